"""Function transformations in the style of JAX and HIPS autograd.

`grad(f)` is a function returning df/dx; transformations nest (`hessian = jacobian(grad(f))`)
because an inner transformation records its backward pass whenever its input is itself being
differentiated by an outer one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.graph import run_backward
from chainrule.modes import enable_grad
from chainrule.tensor import Tensor, as_tensor, stack

ArgNums = int | Sequence[int]


def _argnums_tuple(argnums: ArgNums, count: int, op: str) -> tuple[int, ...]:
    numbers = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for number in numbers:
        if not -count <= number < count:
            raise ValueError(
                f"{op}: argnums={argnums} but the function was called with {count} arguments"
            )
    return tuple(number % count for number in numbers)


def _differentiable_inputs(
    args: Sequence[Any], numbers: tuple[int, ...]
) -> tuple[list[Any], list[Tensor], bool]:
    """The arguments with those at `numbers` replaced by Tensors to differentiate, and whether
    an outer transformation is differentiating them (then the backward is recorded)."""
    call_args = list(args)
    targets: list[Tensor] = []
    nested = False
    for number in numbers:
        value = args[number]
        if isinstance(value, Tensor) and value.requires_grad:
            nested = True
            target = value
        else:
            target = Tensor(value.numpy() if isinstance(value, Tensor) else value)
            target.requires_grad_()
        call_args[number] = target
        targets.append(target)
    return call_args, targets, nested


def _gradients(
    output: Tensor, grad_output: Any, targets: list[Tensor], nested: bool
) -> list[Tensor]:
    if not output.requires_grad:
        return [Tensor._wrap(np.zeros(t.shape, dtype=t.dtype)) for t in targets]
    seed = Tensor._wrap(np.asarray(grad_output, dtype=output.dtype)) if nested else np.asarray(
        grad_output, dtype=output.dtype
    )
    grads = run_backward(output, seed, retain_graph=True, create_graph=nested, inputs=targets)
    assert grads is not None
    results = []
    for target, grad in zip(targets, grads, strict=True):
        if grad is None:
            results.append(Tensor._wrap(np.zeros(target.shape, dtype=target.dtype)))
        elif isinstance(grad, Tensor):
            results.append(grad)
        else:
            results.append(Tensor._wrap(np.asarray(grad)))
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
        call_args, targets, nested = _differentiable_inputs(args, numbers)
        with enable_grad():
            output = _scalar_output(f(*call_args), "grad")
            grads = _gradients(output, np.ones(output.shape), targets, nested)
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
    """``(f(*args), vjp_fn)`` where vjp_fn(v) returns v^T df/d(arg) for every argument."""
    numbers = tuple(range(len(args)))
    call_args, targets, nested = _differentiable_inputs(args, numbers)
    with enable_grad():
        output = as_tensor(f(*call_args))

    def vjp_fn(cotangent: Any) -> tuple[Tensor, ...]:
        seed = np.asarray(cotangent.numpy() if isinstance(cotangent, Tensor) else cotangent)
        if seed.shape != output.shape:
            raise ValueError(
                f"vjp: the cotangent has shape {seed.shape} but the output has shape "
                f"{output.shape}; they must match"
            )
        with enable_grad():
            return tuple(_gradients(output, seed, targets, nested))

    return (output if nested else output.detach()), vjp_fn


def jacobian(f: Callable[..., Any], argnums: int = 0) -> Callable[..., Tensor]:
    """A function returning the Jacobian of f at args, shape output.shape + input.shape,
    one reverse pass per output entry."""

    def jacobian_f(*args: Any) -> Tensor:
        number = _argnums_tuple(argnums, len(args), "jacobian")
        call_args, targets, nested = _differentiable_inputs(args, number)
        (target,) = targets
        with enable_grad():
            output = as_tensor(f(*call_args))
            rows = []
            for flat in range(output.size):
                seed = np.zeros(output.size)
                seed[flat] = 1.0
                rows.append(_gradients(output, seed.reshape(output.shape), targets, nested)[0])
            if not rows:
                return Tensor._wrap(np.zeros(output.shape + target.shape, dtype=target.dtype))
            return stack(rows).reshape(output.shape + target.shape)

    return jacobian_f


def hessian(f: Callable[..., Any], argnums: int = 0) -> Callable[..., Tensor]:
    """A function returning the Hessian of a scalar f: the Jacobian of its gradient."""
    return jacobian(grad(f, argnums), argnums)


def hvp(f: Callable[..., Any], x: Any, v: Any) -> Tensor:
    """H(x) v for a scalar f, without forming H: the gradient of <grad f(x), v>."""
    direction = np.asarray(v.numpy() if isinstance(v, Tensor) else v)
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
