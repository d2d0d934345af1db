"""Training parity: the same weights, the same mini-batches, the same optimiser, step by step."""
