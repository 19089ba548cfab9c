"""nnctl: train fully-connected networks from YAML specs, in NumPy, the course's way."""

__version__ = "0.1.0"
