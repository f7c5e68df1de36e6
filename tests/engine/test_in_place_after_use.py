"""An input changed in place (under no_grad) after an op used it: backward refuses exactly
when the op's vjp reads that input's values (as torch refuses when it saved the tensor), and
where it goes on, the gradients are those of the values the op saw."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

pytestmark = pytest.mark.torch

# Ops whose rule saved a mask, a sign or its output where torch saves the input itself: an
# in-place change of the input leaves their gradient as it was, so they go on where torch
# refuses (the gradients are checked against those of the unchanged input below).
GOES_ON_WHERE_TORCH_REFUSES = {
    "div", "abs", "max", "min", "var", "std", "maximum", "minimum", "clip", "logsumexp",
    "mse_loss", "fmod", "remainder", "logsigmoid", "leaky_relu", "hardtanh", "softsign",
    "layer_norm", "nll_loss", "bce_with_logits", "pad", "take_along_axis", "gather",
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "nan_to_num", "norm", "gelu", "lerp",
}  # fmt: skip
# Ops whose rule reads an input that torch had copied (a broadcast batch of matmul, the
# reshapes of kron, inner, tensordot and einsum; the product of one value, a copy in torch),
# or reads x where torch reads its output (expm1: exp(x), exact for x below -20; c / x:
# c / x**2): they refuse where torch goes on. Found over every variant of the table.
# binary_cross_entropy's table reference is its formula in torch ops, whose dL/dt reads
# log(p) where the rule reads p; torch's binary_cross_entropy itself refuses here too.
REFUSES_WHERE_TORCH_GOES_ON = {
    "matmul", "dot", "inner", "tensordot", "einsum", "kron", "prod", "expm1", "rdiv_scalar",
    "binary_cross_entropy",
}  # fmt: skip


def _backward(
    library: str,
    torch: ModuleType,
    case: OpCase,
    arrays: list[np.ndarray],
    params: dict[str, Any],
    changed: tuple[int, np.ndarray] | None,
    wanted: set[int],
) -> list[np.ndarray | None] | None:
    """The inputs' gradients of sum(op(inputs) * 1), after input `changed[0]` was set to
    `changed[1]` under no_grad; None when backward refuses for that change."""
    if library == "chainrule":
        ours = [cr.tensor(a.copy(), requires_grad=i in wanted) for i, a in enumerate(arrays)]
        out = case.chainrule(*ours, **params)
        if changed is not None:
            with cr.no_grad():
                ours[changed[0]][...] = changed[1]
        try:
            out.backward(np.ones(out.shape, out.dtype))
        except RuntimeError as error:
            if "modified in place after the op used it" not in str(error):
                raise
            return None
        return [None if t.grad is None else t.grad.numpy() for t in ours]
    theirs = [torch.tensor(a.copy(), requires_grad=i in wanted) for i, a in enumerate(arrays)]
    result = case.torch(torch, *theirs, **params)
    if changed is not None:
        with torch.no_grad():
            theirs[changed[0]][...] = torch.from_numpy(changed[1])
    try:
        result.backward(torch.ones_like(result))
    except RuntimeError as error:
        if "modified by an inplace operation" not in str(error):
            raise
        return None
    return [None if t.grad is None else t.grad.numpy() for t in theirs]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_backward_refuses_exactly_a_change_of_an_input_the_rule_reads(
    torch: ModuleType, case: OpCase, data: st.DataObject
) -> None:
    arrays, params = data.draw(op_inputs(case))
    variant = ((tuple(a.shape for a in arrays), params),)
    others, _ = data.draw(op_inputs(replace(case, variants=variant)))
    everyone = set(range(len(arrays)))
    for position in everyone:
        for wanted in (everyone, {position}, everyone - {position}):
            if not wanted:
                continue
            changed = (position, others[position])
            ours = _backward("chainrule", torch, case, arrays, params, changed, wanted)
            theirs = _backward("torch", torch, case, arrays, params, changed, wanted)
            where = f"{case.name}: input {position} changed, gradients of {sorted(wanted)}"
            if ours is None and theirs is not None:
                assert case.name in REFUSES_WHERE_TORCH_GOES_ON, f"{where}: needless refusal"
            if ours is not None and theirs is None:
                assert case.name in GOES_ON_WHERE_TORCH_REFUSES, f"{where}: torch refuses"
            if ours is not None:
                # The op saw the old values: its gradients must be theirs, bit for bit.
                unchanged = _backward("chainrule", torch, case, arrays, params, None, wanted)
                assert unchanged is not None
                for got, expected in zip(ours, unchanged, strict=True):
                    assert (got is None) == (expected is None), where
                    if got is not None:
                        np.testing.assert_array_equal(got, expected, err_msg=where)


@pytest.mark.parametrize(
    "make", [lambda x: x.clone(), lambda x: x.nan_to_num(), lambda x: x * 2.0, lambda x: x.exp()]
)
def test_a_copy_survives_an_in_place_change_of_its_source(make: Any) -> None:
    x = cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = make(x)
    expected = _grad_of(make)
    with cr.no_grad():
        x.mul_(-4.0)
    y.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def _grad_of(make: Any) -> np.ndarray:
    fresh = cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    make(fresh).sum().backward()
    assert fresh.grad is not None
    return fresh.grad.numpy()


def test_an_input_the_rule_reads_still_refuses() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    loss = (x * w).sum()
    with cr.no_grad():
        x.add_(1.0)
    with pytest.raises(RuntimeError, match=r"input 0 \(shape \(2,\)\) of mul was modified"):
        loss.backward()


def test_a_recorded_backward_refuses_any_change_since_it_reruns_the_forward() -> None:
    # nan_to_num's rule saved a mask, but create_graph recomputes it from x's new values.
    x = cr.tensor(np.array([1.0, np.inf]), requires_grad=True)
    y = x.nan_to_num()
    with cr.no_grad():
        x[1] = 2.0
    with pytest.raises(RuntimeError, match="of nan_to_num was modified in place"):
        y.sum().backward(create_graph=True)
