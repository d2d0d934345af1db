"""Whole models in torch.nn."""
