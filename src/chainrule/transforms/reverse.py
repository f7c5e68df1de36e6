"""Reverse mode: `grad`, `value_and_grad`, `vjp` and `hvp`, as JAX's: argnums tuples, has_aux,
keyword arguments passed through undifferentiated, and pytree arguments whose gradients come
back in the same structure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.modes import enable_grad
from chainrule.pytree import tree_flatten, tree_unflatten
from chainrule.tensor import Tensor, as_tensor
from chainrule.transforms.core import (
    ArgNums,
    argnums_tuple,
    depends_on_other_variables,
    describe,
    differentiable_inputs,
    output_leaves,
    real_array,
    released,
    retire,
    reverse_gradients,
    single_argnum,
    split_aux,
    unflatten_each,
    zeros_like,
)


def _added(first: list[Tensor], second: list[Tensor]) -> list[Tensor]:
    return [a + b for a, b in zip(first, second, strict=True)]


def _scalar_output(value: Any, op: str) -> Tensor:
    if isinstance(value, (tuple, list, dict)):
        raise TypeError(
            f"{op}: the function returned {describe(value)}, but it must return one scalar; "
            "if it returns (value, aux) pass has_aux=True, and for several outputs use "
            "chainrule.vjp or chainrule.jacrev"
        )
    output = as_tensor(value)
    if output.size != 1:
        raise TypeError(
            f"{op}: the function must return a scalar, got shape {output.shape}; "
            "use chainrule.jacrev or chainrule.vjp for non-scalar outputs"
        )
    return output


def _value_and_grad(
    f: Callable[..., Any], argnums: ArgNums, has_aux: bool, op: str
) -> Callable[..., tuple[Any, Any]]:
    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        numbers = argnums_tuple(argnums, len(args), op)
        call_args, targets, treedefs = differentiable_inputs(args, numbers, op)
        with enable_grad():
            value, aux = split_aux(f(*call_args, **kwargs), has_aux, op)
            output = _scalar_output(value, op)
        nested = depends_on_other_variables([output], targets)
        with enable_grad():
            grads = reverse_gradients(output, np.ones(output.shape), targets, nested)
        value = released(output, targets)
        aux = released(aux, targets)
        retire(targets)
        trees = unflatten_each(treedefs, grads)
        gradient = trees[0] if single_argnum(argnums) else tuple(trees)
        return ((value, aux), gradient) if has_aux else (value, gradient)

    return value_and_grad_f


def value_and_grad(
    f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False
) -> Callable[..., tuple[Any, Any]]:
    """A function returning ``(f(args), df/d(args[argnums]))`` for a scalar-valued f.

    A tuple `argnums` gives a tuple of gradients; an argument that is a pytree (dicts, lists,
    tuples of arrays, Tensors or numbers) gets a gradient of the same structure. Keyword
    arguments reach f undifferentiated. With has_aux f returns ``(value, aux)`` and the result
    is ``((value, aux), gradient)``, aux not differentiated, as in JAX.
    """
    return _value_and_grad(f, argnums, has_aux, "value_and_grad")


def grad(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning df/d(args[argnums]) for a scalar-valued f: a tuple of gradients
    when argnums is a tuple, each shaped like its (pytree) argument; ``(gradient, aux)`` with
    has_aux. Keyword arguments are passed through, not differentiated."""
    both = _value_and_grad(f, argnums, has_aux, "grad")

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, gradient = both(*args, **kwargs)
        return (gradient, value[1]) if has_aux else gradient

    return grad_f


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(f(primals), vjp_fn)``, where vjp_fn(v) returns v^T df/d(primal) for every primal,
    each shaped like its primal; v has the structure of f's output. With has_aux f returns
    ``(output, aux)`` and the result is ``(output, vjp_fn, aux)``.

    vjp_fn is linear in v and differentiable in it: a cotangent that requires grad (one an
    outer transformation varies) gives a recorded result, so jvp = d/dv <vjp_fn(v), u>.
    """
    numbers = tuple(range(len(primals)))
    call_args, targets, treedefs = differentiable_inputs(primals, numbers, "vjp")
    with enable_grad():
        result, aux = split_aux(f(*call_args), has_aux, "vjp")
        outputs, out_def = output_leaves(result, "vjp")
    nested = depends_on_other_variables(outputs, targets)
    output = tree_unflatten(out_def, released(outputs, targets))
    aux = released(aux, targets)
    retire(targets)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        leaves, cotangent_def = tree_flatten(cotangent)
        if cotangent_def != out_def:
            raise ValueError(
                f"vjp: the cotangent has structure {cotangent_def} but the output has "
                f"structure {out_def}; they must match"
            )
        paths = out_def.paths()
        seeds = [
            real_array(leaf, "vjp", f"the cotangent{path}")
            for leaf, path in zip(leaves, paths, strict=True)
        ]
        for seed, out, path in zip(seeds, outputs, paths, strict=True):
            if seed.shape != out.shape:
                where = f" at {path}" if path else ""
                raise ValueError(
                    f"vjp: the cotangent{where} has shape {seed.shape} but the output "
                    f"has shape {out.shape}; they must match"
                )
        recorded = nested or depends_on_other_variables(seeds, targets)
        total: list[Tensor] | None = None
        with enable_grad():
            for out, seed in zip(outputs, seeds, strict=True):
                if out.requires_grad:
                    pulled = reverse_gradients(out, seed, targets, recorded)
                    total = (
                        pulled
                        if total is None
                        else [a + b for a, b in zip(total, pulled, strict=True)]
                    )
        if total is None:
            total = [zeros_like(target) for target in targets]
        return tuple(unflatten_each(treedefs, total))

    return (output, vjp_fn, aux) if has_aux else (output, vjp_fn)


def hvp(f: Callable[..., Any], x: Any, v: Any) -> Any:
    """H(x) v for a scalar f, without forming H: the gradient of <grad f(x), v>, shaped like
    x. x may be a pytree, v then one of the same structure (<., .> sums over the leaves); for
    an array x, v is any array-like of its shape. It is differentiable in v (and x) when they
    require grad, as under an outer transformation."""
    point_leaves, point_def = tree_flatten(x)
    direction_leaves, direction_def = tree_flatten(v)
    if point_def.node_type is None:  # one array: v may be any array-like, a list too
        direction_leaves, direction_def = [v], point_def
    if direction_def != point_def:
        raise ValueError(
            f"hvp: v has structure {direction_def} but x has structure {point_def}; give v "
            "the structure of x"
        )
    directions = [
        real_array(leaf, "hvp", f"v{path}")
        for leaf, path in zip(direction_leaves, point_def.paths(), strict=True)
    ]
    for point, direction, path in zip(point_leaves, directions, point_def.paths(), strict=True):
        point_shape = point.shape if isinstance(point, Tensor) else np.shape(point)
        if direction.shape != point_shape:
            raise ValueError(
                f"hvp: v{path} has shape {direction.shape} but x{path} has shape {point_shape}"
            )
    gradient = grad(f)

    def directional(y: Any) -> Tensor:
        slopes, _ = tree_flatten(gradient(y))
        total: Tensor | None = None
        for slope, direction in zip(slopes, directions, strict=True):
            term = (slope * direction).sum()
            total = term if total is None else total + term
        if total is None:
            raise ValueError("hvp: x holds no array to differentiate")
        return total

    return grad(directional)(x)


__all__ = ["grad", "hvp", "value_and_grad", "vjp"]
