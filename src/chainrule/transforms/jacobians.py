"""Whole Jacobians: `jacrev` (one reverse sweep per output entry), `jacfwd` (one forward push
per input entry) and `hessian`, forward over reverse, as JAX's. A Jacobian block has shape
output.shape + input.shape; pytree outputs and arguments give nested blocks, the output's
structure outside the arguments'."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule.modes import enable_grad
from chainrule.ops import stack
from chainrule.pytree import TreeDef, tree_unflatten
from chainrule.tensor import Tensor
from chainrule.transforms.core import (
    ArgNums,
    argnums_tuple,
    depends_on_other_variables,
    differentiable_inputs,
    one_hot,
    output_leaves,
    released,
    retire,
    reverse_gradients,
    single_argnum,
    split_aux,
    unflatten_each,
    zeros,
)
from chainrule.transforms.forward import Linearization


def _stacked(parts: Sequence[Tensor], axis: int, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """`parts` stacked along `axis` and reshaped to `shape` (zeros when there are none, in
    the dtype, array library and device of `like`)."""
    if not parts:
        return zeros(shape, like)
    with enable_grad():
        return stack(parts, axis=axis).reshape(shape)


def _jacobian_tree(
    out_def: TreeDef, treedefs: Sequence[TreeDef], blocks: list[list[Tensor]], single: bool
) -> Any:
    """The blocks (per output leaf, per input leaf) as the output's structure of argument
    structures: one argument's tree for an int argnums, a tuple of them otherwise."""
    per_output = []
    for row in blocks:
        trees = unflatten_each(treedefs, row)
        per_output.append(trees[0] if single else tuple(trees))
    return tree_unflatten(out_def, per_output)


def jacrev(
    f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning the Jacobian of f with respect to args[argnums], by reverse mode:
    one sweep per output entry, so cheapest for few outputs. Each block has shape
    output.shape + input.shape; a tuple argnums gives a tuple of Jacobians; ``(jacobian,
    aux)`` with has_aux. Keyword arguments are passed through, not differentiated."""

    def jacrev_f(*args: Any, **kwargs: Any) -> Any:
        numbers = argnums_tuple(argnums, len(args), "jacrev")
        call_args, targets, treedefs = differentiable_inputs(args, numbers, "jacrev")
        with enable_grad():
            result, aux = split_aux(f(*call_args, **kwargs), has_aux, "jacrev")
            outputs, out_def = output_leaves(result, "jacrev")
        nested = depends_on_other_variables(outputs, targets)
        blocks = []
        for output in outputs:
            with enable_grad():
                rows = [
                    reverse_gradients(output, one_hot(output, flat), targets, nested)
                    for flat in range(output.size)
                ]
            blocks.append(
                [
                    _stacked(
                        [row[position] for row in rows],
                        0,
                        output.shape + target.shape,
                        target,
                    )
                    for position, target in enumerate(targets)
                ]
            )
        aux = released(aux, targets)
        retire(targets)
        jacobian = _jacobian_tree(out_def, treedefs, blocks, single_argnum(argnums))
        return (jacobian, aux) if has_aux else jacobian

    return jacrev_f


def jacfwd(
    f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning the Jacobian of f with respect to args[argnums], by forward mode:
    f runs once, then one push of J e_k per input entry k (`chainrule.linearize`), so
    cheapest for few inputs. Same shapes, structure and arguments as `jacrev`."""

    def jacfwd_f(*args: Any, **kwargs: Any) -> Any:
        numbers = argnums_tuple(argnums, len(args), "jacfwd")
        linear = Linearization(f, args, numbers, kwargs, has_aux, "jacfwd")
        columns = [linear.basis_pushes(position) for position in range(len(linear.targets))]
        # An integer or bool output (a count, a mask) has a zero Jacobian in the argument's
        # float dtype, as jacrev gives, not zeros in the output's own dtype.
        blocks = [
            [
                _stacked(
                    [column[index] for column in columns[position]]
                    if output.dtype.kind == "f"
                    else [],
                    -1,
                    output.shape + target.shape,
                    output if output.dtype.kind == "f" else target,
                )
                for position, target in enumerate(linear.targets)
            ]
            for index, output in enumerate(linear.outputs)
        ]
        jacobian = _jacobian_tree(linear.out_def, linear.treedefs, blocks, single_argnum(argnums))
        return (jacobian, linear.aux) if has_aux else jacobian

    return jacfwd_f


jacobian = jacrev
"""The Jacobian by reverse mode: another name for `jacrev`."""


def hessian(
    f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning the Hessian of a scalar f, forward over reverse:
    ``jacfwd(jacrev(f))``. Its block for arguments i, j has shape x_i.shape + x_j.shape; a
    tuple argnums gives the nested tuple of blocks ``((H00, H01), (H10, H11))``, as JAX's."""
    return jacfwd(jacrev(f, argnums, has_aux), argnums, has_aux)


__all__ = ["hessian", "jacfwd", "jacobian", "jacrev"]
