"""Whole models in Keras 3."""
