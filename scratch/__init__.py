"""Deep-learning layers written from first principles in NumPy, forward and backward."""
