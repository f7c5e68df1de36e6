"""Every error the engine promises: the op, the shapes or values, and the fix, raised at the
user's call rather than from deep inside NumPy; and detect_anomaly naming op and line."""

from __future__ import annotations

import os
import re
from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional

NUMPY_DIR = os.path.dirname(np.__file__)


def _leaf(shape, dtype=np.float64):
    return cr.tensor(np.ones(shape, dtype=dtype), requires_grad=True)


def test_matmul_inner_dimension_error_names_both_shapes() -> None:
    with pytest.raises(
        ValueError, match=re.escape("matmul: (32, 784) @ (50, 784): inner dims 784 and 50 differ")
    ) as error:
        _leaf((32, 784)) @ _leaf((50, 784))
    assert not any(str(entry.path).startswith(NUMPY_DIR) for entry in error.traceback)


def test_matmul_batch_dimension_error() -> None:
    with pytest.raises(ValueError, match=r"matmul: \(2, 3, 4\) @ \(5, 4, 2\): batch dims"):
        _leaf((2, 3, 4)) @ _leaf((5, 4, 2))


def test_matmul_of_a_scalar_is_refused() -> None:
    with pytest.raises(ValueError, match=r"matmul: \(\) @ \(3,\): .*use \*"):
        cr.matmul(_leaf(()), _leaf((3,)))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_broadcasting_error_names_op_and_shapes(op) -> None:
    functions = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
        "pow": lambda x, y: x**y,
        "maximum": cr.maximum,
        "minimum": cr.minimum,
    }
    with pytest.raises(
        ValueError, match=rf"^{op}: shapes \(3,\) and \(4,\) cannot broadcast"
    ) as error:
        functions[op](_leaf((3,)), _leaf((4,)))
    assert error.value.__cause__ is None
    assert error.value.__suppress_context__


@pytest.mark.parametrize(
    ("shape", "target"), [((2, 3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3), (3,))]
)
def test_broadcast_to_a_shape_that_only_broadcasts_both_ways_names_op_and_shapes(
    shape: tuple[int, ...], target: tuple[int, ...]
) -> None:
    # the two shapes broadcast together, but shape cannot grow into target
    x = cr.tensor(np.zeros(shape))
    message = f"broadcast_to: cannot broadcast {shape} to {target}"
    with pytest.raises(ValueError, match=re.escape(message)):
        x.broadcast_to(target)


def test_where_broadcasting_error_names_all_shapes() -> None:
    with pytest.raises(ValueError, match=r"where: condition \(2,\), x \(3,\) and y \(3,\)"):
        cr.where(np.array([True, False]), _leaf((3,)), _leaf((3,)))


def test_non_scalar_backward_error() -> None:
    with pytest.raises(
        RuntimeError,
        match=r"backward: the output has shape \(2, 3\), not a "
        r"scalar; pass grad=",
    ):
        (_leaf((2, 3)) * 2).backward()


def test_backward_grad_of_the_wrong_shape() -> None:
    with pytest.raises(
        ValueError,
        match=r"backward: grad has shape \(3,\) but the output has "
        r"shape \(2, 3\)",
    ):
        (_leaf((2, 3)) * 2).backward(np.ones(3))


def test_backward_without_a_graph() -> None:
    with pytest.raises(RuntimeError, match=r"does not require grad.*requires_grad=True"):
        cr.tensor([1.0]).sum().backward()


def test_freed_graph_error() -> None:
    loss = (_leaf((2,)).exp()).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"graph through .* was already freed.*retain_graph"):
        loss.backward()


def test_tensor_from_strings_is_a_dtype_error() -> None:
    with pytest.raises(TypeError, match=r"tensor: cannot make a tensor from data of dtype <U1"):
        cr.tensor(["a", "b"])


def test_requires_grad_on_integer_dtype_is_refused() -> None:
    with pytest.raises(TypeError, match=r"requires_grad_: only floating-point .* int64"):
        cr.tensor([1, 2], dtype=np.int64, requires_grad=True)


def test_astype_to_an_integer_dtype_is_refused() -> None:
    with pytest.raises(TypeError, match=r"astype: .*another float dtype, not int32"):
        _leaf((2,)).astype(np.int32)


def test_astype_of_an_integer_tensor_names_its_dtype_and_the_way_to_integer_values() -> None:
    counts = cr.zeros(3, dtype=np.int64)
    with pytest.raises(TypeError, match=r"this int64 tensor .* t\.numpy\(\)\.astype\('int32'\)"):
        counts.astype(np.int32)


@pytest.mark.parametrize(
    ("call", "op"),
    [
        (lambda x: x.sum(axis=2), "sum"),
        (lambda x: x.mean(axis=-3), "mean"),
        (lambda x: x.max(axis=(0, 5)), "max"),
        (lambda x: x.min(axis=2), "min"),
        (lambda x: x.var(axis=2), "var"),
        (lambda x: x.logsumexp(axis=2), "logsumexp"),
        (lambda x: x.softmax(axis=2), "softmax"),
        (lambda x: np.sum(x, axis=2), "sum"),
    ],
)
def test_axis_out_of_range_names_the_op(call, op) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^{op}: axis -?\d+ is out of range for a tensor "
        r"with 2 dimensions \(valid: -2 to 1\)",
    ):
        call(_leaf((2, 3)))


def test_concatenate_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"concatenate along axis 0: shapes \(2, 3\), \(2, 4\)"):
        cr.concatenate([_leaf((2, 3)), _leaf((2, 4))])


def test_concatenate_axis_out_of_range_names_the_op() -> None:
    with pytest.raises(
        ValueError,
        match=r"^concatenate: axis 2 is out of range for tensors "
        r"with 2 dimensions \(valid: -2 to 1\)",
    ):
        cr.concatenate([_leaf((2, 3)), _leaf((2, 3))], axis=2)


def test_concatenate_of_mixed_dimensions_names_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"^concatenate along axis 1: shapes \(2, 3\), \(3,\)"):
        cr.concatenate([_leaf((2, 3)), _leaf((3,))], axis=1)


def test_stack_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"stack along axis 0: shapes \(2,\), \(3,\)"):
        cr.stack([_leaf((2,)), _leaf((3,))])


def test_reshape_size_mismatch() -> None:
    with pytest.raises(
        ValueError,
        match=r"reshape: cannot reshape \(2, 3\) \(6 values\) into "
        r"\(4, 2\)",
    ):
        _leaf((2, 3)).reshape(4, 2)


def test_transpose_bad_axes() -> None:
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0\) are not a permutation"):
        _leaf((2, 3)).transpose(0, 0)


def test_var_without_degrees_of_freedom() -> None:
    with pytest.raises(ValueError, match=r"var: 1 values with ddof=1"):
        _leaf((1,)).var(ddof=1)


def test_max_of_empty_tensor() -> None:
    with pytest.raises(ValueError, match=r"max: the tensor is empty \(shape \(0,\)\)"):
        _leaf((0,)).max()


def test_clip_without_bounds() -> None:
    with pytest.raises(ValueError, match=r"clip: give at least one of min and max"):
        _leaf((2,)).clip()


def test_item_of_many_values() -> None:
    with pytest.raises(ValueError, match=r"item: the tensor has shape \(2,\) \(2 values\)"):
        _leaf((2,)).item()


def test_index_out_of_range_names_getitem_and_shape() -> None:
    with pytest.raises(IndexError, match=r"getitem: .*\(tensor shape \(2,\)\)"):
        _leaf((2,))[5]


def test_mse_loss_refuses_column_against_vector() -> None:
    with pytest.raises(
        ValueError,
        match=r"mse_loss: pred has shape \(4, 1\) but target has "
        r"shape \(4,\).*reshape",
    ):
        functional.mse_loss(_leaf((4, 1)), np.ones(4))


def test_cross_entropy_refuses_non_integer_targets() -> None:
    with pytest.raises(TypeError, match=r"cross_entropy: targets must be integer class indices"):
        functional.cross_entropy(_leaf((2, 3)), np.array([0.5, 1.0]))


def test_cross_entropy_refuses_targets_of_the_wrong_shape() -> None:
    with pytest.raises(
        ValueError,
        match=r"cross_entropy: targets must have shape \(2,\) for "
        r"logits \(2, 3\), got \(2, 1\)",
    ):
        functional.cross_entropy(_leaf((2, 3)), np.array([[0], [1]]))


def test_cross_entropy_refuses_targets_out_of_range() -> None:
    with pytest.raises(
        ValueError,
        match=r"cross_entropy: target 3 at index 1 is outside the 3 "
        r"classes \[0, 2\]",
    ):
        functional.cross_entropy(_leaf((2, 3)), np.array([0, 3]))


def test_cross_entropy_refuses_one_dimensional_logits() -> None:
    with pytest.raises(
        ValueError,
        match=r"cross_entropy: logits must be \(N, C\), got shape "
        r"\(3,\)",
    ):
        functional.cross_entropy(_leaf((3,)), np.array([0]))


def test_cross_entropy_is_stable_for_logits_of_1e4() -> None:
    logits = cr.tensor(np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]]), requires_grad=True)
    loss = functional.cross_entropy(logits, np.array([0, 1]))
    loss.backward()
    np.testing.assert_allclose(loss.item(), np.log(2.0) / 2, rtol=1e-12)
    assert np.all(np.isfinite(logits.grad.numpy()))


def test_anomaly_in_forward_names_the_op_and_the_user_line() -> None:
    x = _leaf((2,)) * -1
    with (
        np.errstate(invalid="ignore"),
        cr.detect_anomaly(),
        pytest.raises(cr.AnomalyError) as error,
    ):
        x.log()  # the line the error must name
    message = str(error.value)
    assert message.startswith("log produced NaN or inf")
    assert f"{__file__}:" in message
    assert "x.log()  # the line the error must name" in message


def test_anomaly_only_in_backward_is_caught_there_naming_the_op() -> None:
    x = cr.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with cr.detect_anomaly():
        loss = x.sqrt().sum()  # the op whose backward divides by zero
        with np.errstate(divide="ignore"), pytest.raises(cr.AnomalyError) as error:
            loss.backward()
    message = str(error.value)
    assert message.startswith("backward of sqrt produced NaN or inf")
    assert "loss = x.sqrt().sum()  # the op whose backward divides by zero" in message


def test_without_detect_anomaly_nan_passes_silently() -> None:
    x = _leaf((2,)) * -1
    with np.errstate(invalid="ignore"):
        assert np.all(np.isnan(x.log().numpy()))


def test_transpose_axis_out_of_range_is_refused_not_wrapped() -> None:
    with pytest.raises(
        ValueError,
        match=r"transpose: axis 5 is out of range for a tensor with 2 "
        r"dimensions \(valid: -2 to 1\)",
    ):
        _leaf((2, 3)).transpose(0, 5)


def test_transpose_of_a_0d_tensor_with_an_axis_is_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"transpose: axes \(0,\) are not a permutation of the 0 "
        r"axes",
    ):
        _leaf(()).transpose(0)


@pytest.mark.parametrize(("axis1", "axis2"), [(0, 0), (-1, 0), (0, -1)])
def test_swapaxes_of_a_0d_tensor_with_axis_0_or_minus_1_is_the_tensor(
    axis1: int, axis2: int, torch: ModuleType
) -> None:
    x = _leaf(())
    assert x.swapaxes(axis1, axis2).shape == tuple(torch.tensor(1.0).swapaxes(axis1, axis2).shape)


@pytest.mark.parametrize(
    ("shape", "axis1", "axis2", "bad"), [((), 0, 1, 1), ((2, 3), 0, 5, 5), ((2, 3), -3, 0, -3)]
)
def test_swapaxes_axis_out_of_range(
    shape: tuple[int, ...], axis1: int, axis2: int, bad: int
) -> None:
    with pytest.raises(ValueError, match=rf"swapaxes: axis {bad} is out of range for a tensor"):
        _leaf(shape).swapaxes(axis1, axis2)
