"""The network core: layers with their backward passes, the loss maths, the artifact format and
the inference model. NumPy and the standard library only.

Both `training/` (which learns networks and writes artifacts) and `service/` (which loads and
serves them) import this package; it imports neither of them, and they do not import each other.
See docs/architecture.md.
"""
