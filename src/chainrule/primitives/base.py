"""The contract every differentiable operation follows.

A primitive states its forward computation and its vector-Jacobian product side by side.
Both are written with operators and the array API functions of `xp = namespace(inputs)`
(chainrule.backends), so the same code runs on plain arrays of any backend (NumPy, CuPy, JAX)
and on Tensors (recorded, which is how gradients of gradients work).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from chainrule.backends import is_recording, namespace
from chainrule.primitives.reading import Rule

Saved = Any
Grads = tuple[Any, ...]
Outs = tuple[np.ndarray | None, ...]
ForwardKernel = Callable[..., tuple[np.ndarray, Any]]
VjpKernel = Callable[..., tuple[Any, ...]]  # (saved, grad_out, needs, outs) -> Grads
Reads = Callable[[tuple[bool, ...]], tuple[bool, ...]]  # needs -> which inputs vjp reads


def plain_values(x: Any) -> Any:
    """The plain values of an array or a Tensor, cut from any graph: for masks, ties and
    shifts that carry no gradient (np.asarray refuses a Tensor that requires grad). An array
    of another library (CuPy, JAX) is returned as it is, in its own library."""
    if is_recording(x):
        x = x.detach().data  # the Tensor's own array, in its own library
    return np.asarray(x) if namespace(x) is np else x


class Primitive(ABC):
    """One differentiable operation.

    `forward(*inputs, **params)` returns `(output, saved)`: the result and whatever the
    backward pass needs. `vjp(saved, grad_out, needs)` returns one gradient per input:
    `grad_out` pushed through the transposed Jacobian, or `None` where `needs[i]` is false
    (that input needs no gradient, so the work is skipped). Gradients may keep the output's
    broadcast shape; the engine sums them back to each input's shape.
    """

    name: ClassVar[str] = "primitive"
    # True where the output may be a view of the first input's memory (reshape, transpose,
    # basic indexing): the output then shares that input's version counter.
    returns_view: ClassVar[bool] = False
    # True when `saved` holds the output array itself (exp, tanh, ...): changing the output in
    # place would change what vjp reads, so backward checks the output's version too.
    saves_output: ClassVar[bool] = False
    # True where the inputs broadcast against each other (NumPy's rule, see broadcast.py), so
    # their gradients come back in the output's shape and are summed to each input's shape.
    broadcasts: ClassVar[bool] = False
    # How `explain` reads the op: its formula and local derivatives, in text and LaTeX.
    reading: ClassVar[Rule | None] = None
    # Optional kernels for compiled replays, computing exactly what forward and vjp compute
    # (the same NumPy calls, given `out=`, so replays stay bit-identical) into a buffer the
    # program allocates once: `forward_into(*inputs, out=...)` and `vjp_into(saved, grad_out,
    # needs, outs)`, where `outs` holds one array or None per input: each needed gradient
    # with an array is written there (in the input's shape and dtype; it may be `grad_out`
    # itself for an element-wise rule), the others are returned fresh as `vjp` returns them.
    # Where users reach the op: `function` is its name in `chainrule` (chainrule.exp), `method`
    # its Tensor method (x.exp(), x.__add__), `numpy` the NumPy functions that dispatch to it
    # (np.exp(x)). A one-input op with no parameters gets its function, its one-line method
    # and its NumPy dispatch generated from these (see chainrule.ops and chainrule.ops.dispatch).
    function: ClassVar[str | None] = None
    method: ClassVar[str | None] = None
    numpy: ClassVar[tuple[str, ...]] = ()
    forward_into: ClassVar[ForwardKernel | None] = None
    vjp_into: ClassVar[VjpKernel | None] = None
    # Which inputs' values vjp reads, given `needs`, where that depends on `needs` (the
    # gradient of x * y reads y, not x): an in-place change of an input it does not read
    # cannot change its gradients, so backward lets it pass, as torch checks only what it
    # saved. None: vjp reads whatever `saved` holds (the engine looks for inputs' memory there).
    reads: ClassVar[Reads | None] = None

    @staticmethod
    @abstractmethod
    def forward(*inputs: Any, **params: Any) -> tuple[Any, Saved]:
        """(output, saved) for these inputs."""

    @staticmethod
    @abstractmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        """One gradient (or None) per input, from what forward saved and dL/d(output)."""


def reads_the_others(needs: tuple[bool, ...]) -> tuple[bool, ...]:
    """`Primitive.reads` of a product of its inputs (x * y, x @ y, einsum): the gradient of
    each input reads every other input and not itself, so input i is read when another one
    needs a gradient."""
    wanted = sum(needs)
    return tuple(wanted - need > 0 for need in needs)


def is_unary(primitive: type[Primitive]) -> bool:
    """True for a primitive of one input and no parameters (exp, tanh, ...): its function,
    Tensor method and NumPy dispatch are generated from its declaration alone."""
    parameters = inspect.signature(primitive.forward).parameters.values()
    return [p.kind for p in parameters] == [inspect.Parameter.POSITIONAL_OR_KEYWORD]
