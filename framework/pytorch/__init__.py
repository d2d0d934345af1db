"""PyTorch implementations (torch.nn). Imports only torch."""
