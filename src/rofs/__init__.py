"""rofs: make containers run with a read-only root filesystem without breaking them."""

__version__ = "0.1.0"
