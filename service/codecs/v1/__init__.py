"""The /v1 JSON protocol: its body parser and its request and response models."""
