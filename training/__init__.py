"""Training for mnist-serve, on the network core (`neuralnet`): data, download, augmentation, optimizers,
the loop, evaluation, reports, and the `mnist-train` / `mnist-evaluate` commands."""
