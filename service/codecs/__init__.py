"""Codecs: request bodies to validated (N, 784) 0-255 pixels and answers to bytes, per protocol."""
