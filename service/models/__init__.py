"""Models on disk and in memory: the weights directory (repository) and the loaded model."""
