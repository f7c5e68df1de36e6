"""chainrule: backpropagation made concrete.

The chain rule done by hand (`chainrule.manual`), checked by finite differences
(`chainrule.check`), and done by machine: `Tensor` and its ops form a reverse-mode autodiff
engine on NumPy; `chainrule.functional` holds losses; `grad`, `jacobian`, ... transform
functions; `chainrule.nn` and `chainrule.optim` build and train models as their PyTorch
namesakes; `explain` and `draw` show the chain rule of any graph, `explore` steps through it in a
browser.
"""

from chainrule import check, functional, manual, nn, optim
from chainrule.compiler import compile
from chainrule.explanation import Explanation, draw, explain
from chainrule.exploration import explore
from chainrule.modes import AnomalyError, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from chainrule.ops import (
    abs,
    clip,
    concatenate,
    exp,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sum,
    tanh,
    tensor,
    transpose,
    var,
    where,
)
from chainrule.tensor import Tensor
from chainrule.transforms import grad, hessian, hvp, jacobian, value_and_grad, vjp

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "Explanation",
    "Tensor",
    "__version__",
    "abs",
    "check",
    "clip",
    "compile",
    "concatenate",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "exp",
    "explain",
    "explore",
    "functional",
    "grad",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "log",
    "log_softmax",
    "logsumexp",
    "manual",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "nn",
    "no_grad",
    "optim",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "value_and_grad",
    "var",
    "vjp",
    "where",
]
