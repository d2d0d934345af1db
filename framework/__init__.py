"""The same models written the way practitioners write them: PyTorch (torch.nn) and Keras 3."""
