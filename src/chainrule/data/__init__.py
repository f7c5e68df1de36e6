"""Data sets for the examples and the command line."""

from chainrule.data.digits import load_digits

__all__ = ["load_digits"]
