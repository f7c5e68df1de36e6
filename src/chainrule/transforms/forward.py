"""Forward mode: `jvp` and `linearize`, as JAX's, by the double-vjp trick.

vjp_fn(u) = J^T u is linear in the cotangent u, and our vjp is differentiable in it, so for a
tangent t, J t = d/du <J^T u, t>: one reverse sweep over the recorded vjp per tangent. Every op
that has a vjp thereby has forward mode, with no rule of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.modes import enable_grad
from chainrule.pytree import tree_flatten, tree_unflatten
from chainrule.tensor import Tensor
from chainrule.transforms.core import (
    depends_on_other_variables,
    describe,
    differentiable_inputs,
    one_hot,
    output_leaves,
    real_array,
    released,
    retire,
    reverse_gradients,
    split_aux,
    zeros_like,
)


class Linearization:
    """f evaluated once at its arguments, with J^T u recorded as a function of fresh
    cotangents u (one per output leaf), so that `push` gives J t for any tangent t by one
    sweep over that record, f not evaluated again."""

    def __init__(
        self,
        f: Callable[..., Any],
        args: Sequence[Any],
        numbers: tuple[int, ...],
        kwargs: dict[str, Any],
        has_aux: bool,
        op: str,
    ) -> None:
        call_args, self.targets, self.treedefs = differentiable_inputs(args, numbers, op)
        with enable_grad():
            result, aux = split_aux(f(*call_args, **kwargs), has_aux, op)
            self.outputs, self.out_def = output_leaves(result, op)
        # A cotangent for each output that depends on an input; the others have tangent 0.
        self.cotangents = {
            position: zeros_like(output).requires_grad_()
            for position, output in enumerate(self.outputs)
            if output.requires_grad
        }
        pulled: list[Tensor] | None = None
        with enable_grad():
            for position, cotangent in self.cotangents.items():
                part = reverse_gradients(self.outputs[position], cotangent, self.targets, True)
                pulled = (
                    part if pulled is None else [a + b for a, b in zip(pulled, part, strict=True)]
                )
        self.pulled = [zeros_like(t) for t in self.targets] if pulled is None else pulled
        self.result = tree_unflatten(self.out_def, released(self.outputs, self.targets))
        self.aux = released(aux, self.targets)
        retire(self.targets)
        retire(list(self.cotangents.values()))

    def push(self, tangents: Sequence[Any]) -> list[Tensor]:
        """J t, one tensor per output leaf, for the tangent leaves `tangents` (one per target,
        in order)."""
        cotangents = list(self.cotangents.values())
        pairing: Tensor | None = None
        with enable_grad():
            for pulled, target, tangent in zip(self.pulled, self.targets, tangents, strict=True):
                if not pulled.requires_grad:
                    continue
                term = (pulled * _as_dtype(tangent, target.dtype)).sum()
                pairing = term if pairing is None else pairing + term
        pushed = [zeros_like(output) for output in self.outputs]
        if pairing is None:
            return pushed
        nested = depends_on_other_variables([pairing], cotangents)
        with enable_grad():
            grads = reverse_gradients(pairing, np.ones(()), cotangents, nested)
        for position, tangent_out in zip(self.cotangents, grads, strict=True):
            pushed[position] = tangent_out
        return pushed

    def basis_pushes(self, position: int) -> list[list[Tensor]]:
        """J e_k for each entry k of target `position` (e_k its unit tangent), each a list of
        one tensor per output leaf. <J^T u, e_k> is entry k of J^T u, so each is one sweep
        seeded with e_k, where `push` would pair first."""
        pulled, target = self.pulled[position], self.targets[position]
        cotangents = list(self.cotangents.values())
        if not pulled.requires_grad:
            return [[zeros_like(output) for output in self.outputs] for _ in range(target.size)]
        nested = depends_on_other_variables([pulled], cotangents)
        columns = []
        for flat in range(target.size):
            with enable_grad():
                grads = reverse_gradients(pulled, one_hot(pulled, flat), cotangents, nested)
            pushed = [zeros_like(output) for output in self.outputs]
            for output_position, tangent_out in zip(self.cotangents, grads, strict=True):
                pushed[output_position] = tangent_out
            columns.append(pushed)
        return columns


def _as_dtype(tangent: Any, dtype: np.dtype[Any]) -> Any:
    if isinstance(tangent, Tensor):
        return tangent if tangent.dtype == dtype else tangent.astype(dtype)
    return np.asarray(tangent, dtype=dtype)


def _shape(value: Any) -> tuple[int, ...]:
    return value.shape if isinstance(value, Tensor) else np.shape(value)


def _tangent_leaves(op: str, primals: Sequence[Any], tangents: Sequence[Any]) -> list[Any]:
    """The leaves of `tangents`, checked against `primals`: one tangent per primal, of the
    same structure, each leaf of its primal leaf's shape."""
    if len(tangents) != len(primals):
        raise ValueError(
            f"{op}: {len(primals)} primals but {len(tangents)} tangents; give one tangent "
            "per primal, of the primal's structure and shapes"
        )
    leaves: list[Any] = []
    for number, (primal, tangent) in enumerate(zip(primals, tangents, strict=True)):
        primal_leaves, primal_def = tree_flatten(primal)
        tangent_leaves_, tangent_def = tree_flatten(tangent)
        if tangent_def != primal_def:
            raise ValueError(
                f"{op}: the tangent for argument {number} has structure {tangent_def} but the "
                f"primal has structure {primal_def}; they must match"
            )
        paths = primal_def.paths()
        for primal_leaf, tangent_leaf, path in zip(
            primal_leaves, tangent_leaves_, paths, strict=True
        ):
            real_array(tangent_leaf, op, f"the tangent for argument {number}{path}")
            if _shape(tangent_leaf) != _shape(primal_leaf):
                raise ValueError(
                    f"{op}: the tangent for argument {number}{path} has shape "
                    f"{_shape(tangent_leaf)} but the primal has shape {_shape(primal_leaf)}; "
                    "they must match"
                )
        leaves.extend(tangent_leaves_)
    return leaves


def linearize(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(f(primals), f_jvp)``, where f_jvp(tangents), one tangent per primal, returns J t
    shaped like f's output, without evaluating f again (each call is one sweep over the
    recorded vjp). With has_aux f returns ``(output, aux)`` and the result is
    ``(output, f_jvp, aux)``, as in JAX."""
    linear = Linearization(f, primals, tuple(range(len(primals))), {}, has_aux, "linearize")

    def f_jvp(*tangents: Any) -> Any:
        leaves = _tangent_leaves("linearize", primals, tangents)
        return tree_unflatten(linear.out_def, linear.push(leaves))

    return (linear.result, f_jvp, linear.aux) if has_aux else (linear.result, f_jvp)


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple[Any, ...]:
    """``(f(primals), J t)``: the output and its directional derivative along the tangents,
    one per primal (a tuple or list each, pytrees allowed), as JAX's jvp. With has_aux f
    returns ``(output, aux)`` and the result is ``(output, J t, aux)``.

    J t = d/du <J^T u, t> (the vjp of the vjp), so it is differentiable in the primals and
    the tangents when an outer transformation varies them.
    """
    for name, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, (tuple, list)):
            raise TypeError(
                f"jvp: {name} must be a tuple or list with one entry per positional argument "
                f"of f, got {describe(value)}; write jvp(f, (x,), (v,))"
            )
    leaves = _tangent_leaves("jvp", primals, tangents)
    linear = Linearization(f, primals, tuple(range(len(primals))), {}, has_aux, "jvp")
    pushed = tree_unflatten(linear.out_def, linear.push(leaves))
    return (linear.result, pushed, linear.aux) if has_aux else (linear.result, pushed)


__all__ = ["Linearization", "jvp", "linearize"]
