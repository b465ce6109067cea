"""NumPy-only training package for mnist-serve: layers, losses, optimizers, data and the training loop."""
