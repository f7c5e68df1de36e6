"""Function transformations in the style of JAX and HIPS autograd.

`grad(f)` is a function returning df/dx; transformations nest (``hessian = jacfwd(jacrev(f))``)
as JAX's do: an inner transformation records its backward pass whenever what it differentiates
depends on a tensor that requires grad, such as a value an outer transformation varies.
Reverse mode lives in `reverse`, forward mode (by the vjp of the vjp) in `forward`, whole
Jacobians in `jacobians`; arguments may be pytrees (`chainrule.pytree`).
"""

from chainrule.transforms.forward import jvp, linearize
from chainrule.transforms.jacobians import hessian, jacfwd, jacobian, jacrev
from chainrule.transforms.reverse import grad, hvp, value_and_grad, vjp

__all__ = [
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "linearize",
    "value_and_grad",
    "vjp",
]
