"""chainrule: backpropagation made concrete.

The chain rule done by hand (`chainrule.manual`) and checked by finite differences
(`chainrule.check`).
"""

__version__ = "0.1.0"

from chainrule import check, manual

__all__ = ["__version__", "check", "manual"]
