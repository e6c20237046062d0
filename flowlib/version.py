"""flowlib's version (one place; ``flowlib.__version__`` re-exports it)."""

__version__ = "0.2.0.dev0"
