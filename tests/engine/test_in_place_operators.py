"""Python's augmented assignments (`+=`, `-=`, `*=`, `/=`) change a tensor in place, as in
PyTorch: the same object keeps its identity, its views see the change and its version
counter moves; on a leaf that requires grad they are refused outside no_grad."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr

AUGMENTED: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
}


@pytest.mark.parametrize("symbol", AUGMENTED)
def test_augmented_assignment_under_no_grad_updates_the_parameter_itself(
    symbol: str, torch: ModuleType
) -> None:
    values = np.array([1.0, -2.0, 3.0])
    step = np.array([0.5, 0.25, -2.0])
    weight = cr.tensor(values.copy(), requires_grad=True)
    reference = torch.tensor(values.copy(), requires_grad=True)
    with cr.no_grad():
        updated = AUGMENTED[symbol](weight, cr.tensor(step))
    with torch.no_grad():
        expected = AUGMENTED[symbol](reference, torch.tensor(step))
    assert updated is weight
    assert expected is reference
    assert weight.requires_grad
    np.testing.assert_allclose(weight.numpy(), reference.detach().numpy(), rtol=1e-15)


def test_sgd_step_written_with_minus_equals_changes_the_leaf_as_pytorch() -> None:
    weight = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (weight * weight).sum().backward()
    original = weight
    with cr.no_grad():
        weight -= 0.1 * weight.grad
    assert weight is original
    assert weight.is_leaf
    np.testing.assert_allclose(weight.numpy(), [0.8, 1.6], rtol=1e-15)


@pytest.mark.parametrize("symbol", AUGMENTED)
def test_augmented_assignment_on_a_leaf_that_requires_grad_is_refused(
    symbol: str, torch: ModuleType
) -> None:
    weight = cr.tensor(np.ones(3), requires_grad=True)
    reference = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        AUGMENTED[symbol](reference, 2.0)
    with pytest.raises(
        RuntimeError, match=re.escape(f"{symbol}: in-place change of a tensor that requires grad")
    ):
        AUGMENTED[symbol](weight, 2.0)
    np.testing.assert_array_equal(weight.numpy(), np.ones(3))


@pytest.mark.parametrize("symbol", AUGMENTED)
def test_augmented_assignment_bumps_the_version_shared_with_views(
    symbol: str, torch: ModuleType
) -> None:
    base = cr.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    view = base[0]
    reference = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    reference_view = reference[0]
    before, reference_before = base._version, reference._version
    base = AUGMENTED[symbol](base, 2.0)
    reference = AUGMENTED[symbol](reference, 2.0)
    assert base._version - before == reference._version - reference_before == 1
    assert view._version == base._version
    assert reference_view._version == reference._version
    np.testing.assert_allclose(view.numpy(), reference_view.numpy(), rtol=1e-15)


@pytest.mark.parametrize("symbol", AUGMENTED)
def test_augmented_assignment_through_a_view_changes_its_base(
    symbol: str, torch: ModuleType
) -> None:
    base = cr.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    reference = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    view = base[1]
    reference_view = reference[1]
    view = AUGMENTED[symbol](view, 4.0)
    reference_view = AUGMENTED[symbol](reference_view, 4.0)
    np.testing.assert_allclose(base.numpy(), reference.numpy(), rtol=1e-15)


def test_augmented_assignment_through_a_view_of_a_leaf_that_requires_grad_is_refused() -> None:
    base = cr.tensor(np.ones(3))
    view = base[:]
    base.requires_grad_()
    with pytest.raises(RuntimeError, match=r"\+=: .*view of a leaf that requires grad"):
        view += 1.0
    np.testing.assert_array_equal(base.numpy(), np.ones(3))


def test_augmented_assignment_after_an_op_saved_the_tensor_makes_backward_raise() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    scale = cr.tensor(np.array([3.0, 4.0]))
    y = (x * scale).sum()
    scale *= 2.0
    with pytest.raises(RuntimeError, match="was modified in place after the op used it"):
        y.backward()


def test_augmented_assignment_with_a_value_that_requires_grad_is_refused() -> None:
    total = cr.tensor(np.zeros(2))
    x = cr.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\+=: the value .* requires grad"):
        total += x
    np.testing.assert_array_equal(total.numpy(), np.zeros(2))


def test_augmented_assignment_that_would_change_the_shape_is_refused_by_name() -> None:
    row = cr.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"\+=: .*shape \(2, 3\).*shape \(3,\)"):
        row += np.ones((2, 3))


def test_augmented_assignment_with_a_value_that_cannot_broadcast_is_refused_by_name() -> None:
    row = cr.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"-=: shapes \(3,\) and \(4,\) cannot broadcast"):
        row -= np.ones(4)


def test_augmented_division_of_an_integer_tensor_is_refused_by_name() -> None:
    counts = cr.tensor(np.arange(3), dtype=np.int64)
    with pytest.raises(TypeError, match=r"/=: .*int64"):
        counts /= 2


@pytest.mark.parametrize("method", ["add_", "sub_", "mul_", "copy_"])
def test_in_place_method_with_a_value_that_requires_grad_is_refused(method: str) -> None:
    total = cr.tensor(np.zeros(2))
    x = cr.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{method}: the value .* requires grad"):
        getattr(total, method)(x)
    np.testing.assert_array_equal(total.numpy(), np.zeros(2))
