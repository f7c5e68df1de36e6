"""chainrule: backpropagation made concrete.

`Tensor` and the ops in `chainrule.ops` form a reverse-mode autodiff engine on NumPy;
`chainrule.functional` holds losses and `grad`, `jacobian`, ... transform functions;
`chainrule.nn` and `chainrule.optim` build and train models as their PyTorch namesakes.
"""

from chainrule import functional, nn, optim
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
    "Tensor",
    "__version__",
    "abs",
    "clip",
    "concatenate",
    "detect_anomaly",
    "enable_grad",
    "exp",
    "functional",
    "grad",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "log",
    "log_softmax",
    "logsumexp",
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
