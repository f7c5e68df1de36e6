"""Function transformations in the style of JAX and HIPS autograd.

`grad(f)` is a function returning df/dx; transformations nest (`hessian = jacobian(grad(f))`)
as JAX's do: an inner transformation records its backward pass whenever what it differentiates
depends on a tensor that requires grad, such as a value an outer transformation varies.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.graph import gradients
from chainrule.modes import enable_grad, is_grad_enabled
from chainrule.ops import stack
from chainrule.tensor import Tensor, as_tensor

ArgNums = int | Sequence[int]

# The fresh leaves of transformations that have returned. They require grad only so that
# their own backward could run; to every later transformation they are constants, so a
# result recorded through them does not make an outer result recorded too.
_RETIRED: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def _argnums_tuple(argnums: ArgNums, count: int, op: str) -> tuple[int, ...]:
    numbers = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for number in numbers:
        if not -count <= number < count:
            raise ValueError(
                f"{op}: argnums={argnums} but the function was called with {count} arguments"
            )
    normalized = tuple(number % count for number in numbers)
    for position, number in enumerate(normalized):
        if number in normalized[:position]:
            raise ValueError(
                f"{op}: argnums={argnums} names argument {number} twice; list each argument "
                "once (the gradient for a repeated one would be ambiguous)"
            )
    return normalized


def _differentiable_inputs(
    args: Sequence[Any], numbers: tuple[int, ...]
) -> tuple[list[Any], list[Tensor]]:
    """The arguments with those at `numbers` replaced by Tensors to differentiate.

    Each target is a tensor of its own: a fresh leaf for a constant, or, for a tensor an outer
    transformation (or the user) differentiates, an identity op on it. The inner derivative
    then counts only the paths through this argument (d/dy (x y) at y = x is x, not 2x, as in
    JAX), while the outer one still sees how the result depends on the value passed in.
    """
    call_args = list(args)
    targets: list[Tensor] = []
    for number in numbers:
        value = args[number]
        if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
            with enable_grad():
                target = value.reshape(value.shape)
        else:
            if isinstance(value, Tensor) and value.dtype.kind != "f":
                raise TypeError(
                    f"cannot differentiate with respect to argument {number}, a tensor of "
                    f"dtype {value.dtype}: only floating-point tensors can require gradients "
                    "(as in PyTorch); pass value.astype(np.float32), or leave it out of argnums"
                )
            target = Tensor(value.numpy() if isinstance(value, Tensor) else value)
            target.requires_grad_()
        call_args[number] = target
        targets.append(target)
    return call_args, targets


def _retire(targets: list[Tensor]) -> None:
    for target in targets:
        if target.is_leaf:
            _RETIRED[id(target)] = target


def _depends_on_other_variables(roots: Sequence[Any], targets: list[Tensor]) -> bool:
    """Whether a tensor in `roots`, or one it was computed from, requires grad and is not a
    fresh leaf of `targets` or of a transformation that has returned: then the derivative is
    itself a function of a variable being differentiated, and its backward must be recorded
    (create_graph)."""
    if not is_grad_enabled():
        return False
    ours = {id(target) for target in targets if target.is_leaf}
    stack = [root for root in roots if isinstance(root, Tensor) and root.requires_grad]
    seen: set[int] = set()
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        node = tensor.grad_fn
        if node is None:
            if id(tensor) not in ours and _RETIRED.get(id(tensor)) is not tensor:
                return True
            continue
        stack.extend(parent for parent in node.parents if parent.requires_grad)
    return False


def _gradients(
    output: Tensor, grad_output: Any, targets: list[Tensor], nested: bool
) -> list[Tensor]:
    if not output.requires_grad:
        return [Tensor.from_numpy(np.zeros(t.shape, dtype=t.dtype)) for t in targets]
    if nested and isinstance(grad_output, Tensor):
        seed: Any = (
            grad_output if grad_output.dtype == output.dtype else grad_output.astype(output.dtype)
        )
    else:
        array = np.asarray(
            grad_output.numpy() if isinstance(grad_output, Tensor) else grad_output,
            dtype=output.dtype,
        )
        seed = Tensor.from_numpy(array) if nested else array
    grads = gradients(output, seed, targets, retain_graph=True, create_graph=nested)
    results = []
    for target, grad in zip(targets, grads, strict=True):
        if grad is None:
            results.append(Tensor.from_numpy(np.zeros(target.shape, dtype=target.dtype)))
        elif isinstance(grad, Tensor):
            results.append(grad)
        else:
            results.append(Tensor.from_numpy(np.asarray(grad)))
    return results


def _scalar_output(value: Any, op: str) -> Tensor:
    output = as_tensor(value)
    if output.size != 1:
        raise TypeError(
            f"{op}: the function must return a scalar, got shape {output.shape}; "
            "use chainrule.jacobian or chainrule.vjp for non-scalar outputs"
        )
    return output


def value_and_grad(
    f: Callable[..., Any], argnums: ArgNums = 0
) -> Callable[..., tuple[Tensor, Any]]:
    """A function returning ``(f(*args), df/d(args[argnums]))`` for a scalar-valued f."""

    def value_and_grad_f(*args: Any) -> tuple[Tensor, Any]:
        numbers = _argnums_tuple(argnums, len(args), "grad")
        call_args, targets = _differentiable_inputs(args, numbers)
        with enable_grad():
            output = _scalar_output(f(*call_args), "grad")
        nested = _depends_on_other_variables([output], targets)
        with enable_grad():
            grads = _gradients(output, np.ones(output.shape), targets, nested)
        _retire(targets)
        value = output if nested else output.detach()
        return value, (grads[0] if isinstance(argnums, int) else tuple(grads))

    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """A function returning df/d(args[argnums]) (a tuple when argnums is a sequence)."""
    both = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return both(*args)[1]

    return grad_f


def vjp(f: Callable[..., Any], *args: Any) -> tuple[Tensor, Callable[[Any], tuple[Tensor, ...]]]:
    """``(f(*args), vjp_fn)`` where vjp_fn(v) returns v^T df/d(arg) for every argument.

    vjp_fn is linear in v and differentiable in it: a cotangent that requires grad (one an
    outer transformation varies) gives a recorded result, so jvp = d/dv <vjp_fn(v), u>.
    """
    numbers = tuple(range(len(args)))
    call_args, targets = _differentiable_inputs(args, numbers)
    with enable_grad():
        output = as_tensor(f(*call_args))
    nested = _depends_on_other_variables([output], targets)
    _retire(targets)

    def vjp_fn(cotangent: Any) -> tuple[Tensor, ...]:
        seed = cotangent if isinstance(cotangent, Tensor) else np.asarray(cotangent)
        if seed.shape != output.shape:
            raise ValueError(
                f"vjp: the cotangent has shape {seed.shape} but the output has shape "
                f"{output.shape}; they must match"
            )
        recorded = nested or _depends_on_other_variables([seed], targets)
        with enable_grad():
            return tuple(_gradients(output, seed, targets, recorded))

    return (output if nested else output.detach()), vjp_fn


def jacobian(f: Callable[..., Any], argnums: int = 0) -> Callable[..., Tensor]:
    """A function returning the Jacobian of f at args, shape output.shape + input.shape,
    one reverse pass per output entry."""

    def jacobian_f(*args: Any) -> Tensor:
        if not isinstance(argnums, int):
            raise TypeError(
                f"jacobian: argnums must be one int, got {argnums}; take one Jacobian per argument"
            )
        number = _argnums_tuple(argnums, len(args), "jacobian")
        call_args, targets = _differentiable_inputs(args, number)
        (target,) = targets
        with enable_grad():
            output = as_tensor(f(*call_args))
        nested = _depends_on_other_variables([output], targets)
        with enable_grad():
            rows = []
            for flat in range(output.size):
                seed = np.zeros(output.size)
                seed[flat] = 1.0
                rows.append(_gradients(output, seed.reshape(output.shape), targets, nested)[0])
            _retire(targets)
            if not rows:
                return Tensor.from_numpy(np.zeros(output.shape + target.shape, dtype=target.dtype))
            return stack(rows).reshape(output.shape + target.shape)

    return jacobian_f


def hessian(f: Callable[..., Any], argnums: int = 0) -> Callable[..., Tensor]:
    """A function returning the Hessian of a scalar f: the Jacobian of its gradient."""
    return jacobian(grad(f, argnums), argnums)


def hvp(f: Callable[..., Any], x: Any, v: Any) -> Tensor:
    """H(x) v for a scalar f, without forming H: the gradient of <grad f(x), v>. It is
    differentiable in v (and x) when they require grad, as under an outer transformation."""
    direction = v if isinstance(v, Tensor) else np.asarray(v)
    point = as_tensor(x)
    if direction.shape != point.shape:
        raise ValueError(f"hvp: v has shape {direction.shape} but x has shape {point.shape}")
    gradient = grad(f)

    def directional(y: Any) -> Tensor:
        slope: Tensor = gradient(y)
        return (slope * direction).sum()

    result: Tensor = grad(directional)(x)
    return result


__all__ = ["grad", "hessian", "hvp", "jacobian", "value_and_grad", "vjp"]
