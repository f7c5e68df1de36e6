"""chainrule: backpropagation made concrete.

The chain rule done by hand (`chainrule.manual`), checked by finite differences
(`chainrule.check`), and done by machine: `Tensor` and its ops form a reverse-mode autodiff
engine on NumPy; `chainrule.functional` holds losses; `grad`, `jacobian`, ... transform
functions; `chainrule.nn` and `chainrule.optim` build and train models as their PyTorch
namesakes; `explain` and `draw` show the chain rule of any graph, `explore` steps through it in a
browser.
"""

# First: under `python -m chainrule`, Ctrl-C during the imports below exits 130 in one line.
import chainrule_cli_entry  # noqa: F401
from chainrule import check, functional, manual, nn, ops, optim
from chainrule.compiler import compile
from chainrule.explanation import Explanation, draw, explain
from chainrule.exploration import explore
from chainrule.modes import AnomalyError, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from chainrule.ops import *  # noqa: F403  (every op function, generated ones included)
from chainrule.tensor import Tensor
from chainrule.transforms import (
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    linearize,
    value_and_grad,
    vjp,
)

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "Explanation",
    "Tensor",
    "__version__",
    "check",
    "compile",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "explain",
    "explore",
    "functional",
    "grad",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "manual",
    "nn",
    "no_grad",
    "optim",
    "value_and_grad",
    "vjp",
    *ops.__all__,
    # transforms: forward mode and Jacobians
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
]
