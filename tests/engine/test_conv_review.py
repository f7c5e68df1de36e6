"""A second review of the convolutions and pools (session 2026-12-02c): values and the
gradients of input, weight and bias against torch.nn.functional over a grid of strides,
paddings, dilations and groups, on contiguous and transposed-view inputs in float64 and
float32; ties in max pooling; second order with a cotangent that depends on the inputs;
float64 central differences; and the refusals of bad input, each naming the shapes.

Both libraries take NCL / NCHW inputs and (C_out, C_in / groups, *kernel) weights, so the
arrays are handed to each unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import numerical_grad, relative_error

import chainrule as cr
from chainrule import functional

pytestmark = pytest.mark.torch

TOLERANCE = {np.float64: 1e-12, np.float32: 3e-5}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
LAYOUTS = pytest.mark.parametrize("layout", ["contiguous", "transposed_view"])
TORCH_EVEN_SAME = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


def _input(rng: np.random.Generator, shape: tuple[int, ...], dtype: type, layout: str) -> Any:
    """Normal draws of `shape`; as a transposed view (every axis reversed, twice) when asked,
    so that no axis has the strides of a C-contiguous array."""
    values = rng.normal(size=shape).astype(dtype)
    if layout == "contiguous":
        return values
    reversed_axes = tuple(reversed(range(len(shape))))
    view = np.ascontiguousarray(values.transpose(reversed_axes)).transpose(reversed_axes)
    assert not view.flags.c_contiguous
    return view


def assert_matches_torch(
    torch: ModuleType,
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    arrays: list[Any],
    dtype: type,
    seed: int = 0,
) -> None:
    """The values, then each input's gradient for a random cotangent: shapes, dtypes, and
    relative error within TOLERANCE[dtype]."""
    our_inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    their_inputs = [torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in arrays]
    out = ours(*our_inputs)
    reference = theirs(*their_inputs)
    assert out.shape == tuple(reference.shape)
    assert out.dtype == np.dtype(dtype)
    tolerance = TOLERANCE[dtype]
    assert relative_error(out.numpy(), reference.detach().numpy()) <= tolerance
    cotangent = np.random.default_rng(seed + 1).normal(size=out.shape).astype(dtype)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    for mine, torch_input in zip(our_inputs, their_inputs, strict=True):
        assert mine.grad is not None
        assert mine.grad.shape == tuple(torch_input.shape)
        assert mine.grad.dtype == np.dtype(dtype)
        assert relative_error(mine.grad.numpy(), torch_input.grad.numpy()) <= tolerance


CONV2D = {
    # name: (input shape, weight shape, bias?, keyword arguments both libraries take)
    "stride_2": ((2, 3, 9, 7), (4, 3, 3, 3), True, {"stride": 2}),
    "stride_pair_padding_pair": (
        (2, 3, 8, 9),
        (2, 3, 3, 2),
        True,
        {"stride": (3, 1), "padding": (2, 1)},
    ),
    "padding_int": ((1, 2, 5, 5), (3, 2, 3, 3), True, {"padding": 2}),
    "same_odd_kernel_dilated": (
        (2, 2, 7, 6),
        (3, 2, 3, 3),
        True,
        {"padding": "same", "dilation": (1, 2)},
    ),
    "same_even_kernel": ((1, 3, 6, 5), (2, 3, 2, 4), False, {"padding": "same"}),
    "valid": ((2, 2, 6, 7), (3, 2, 4, 2), True, {"padding": "valid"}),
    "dilation_and_stride": (
        (2, 2, 11, 9),
        (2, 2, 3, 2),
        True,
        {"dilation": (2, 3), "stride": (2, 1)},
    ),
    "groups_3": ((2, 6, 7, 5), (9, 2, 3, 3), True, {"groups": 3, "padding": 1}),
    "depthwise": ((1, 4, 7, 7), (4, 1, 3, 3), True, {"groups": 4, "stride": 2, "padding": 1}),
    "depthwise_multiplier": ((2, 3, 6, 5), (6, 1, 2, 2), False, {"groups": 3}),
    "kernel_larger_than_input": ((1, 2, 2, 3), (3, 2, 4, 5), True, {"padding": 2}),
    "odd_sizes_batch_1": ((1, 1, 13, 3), (2, 1, 3, 1), True, {"stride": (4, 1)}),
    "one_by_one": ((3, 4, 5, 3), (2, 4, 1, 1), True, {}),
}

CONV1D = {
    "plain": ((2, 3, 11), (4, 3, 3), True, {}),
    "stride_padding": ((2, 3, 10), (2, 3, 4), True, {"stride": 3, "padding": 2}),
    "same_dilated": ((1, 2, 9), (4, 2, 3), False, {"padding": "same", "dilation": 3}),
    "groups_depthwise": ((2, 4, 8), (8, 1, 3), True, {"groups": 4, "padding": 1}),
    "kernel_larger_than_input": ((1, 2, 2), (2, 2, 5), True, {"padding": 2}),
}


def _conv_arrays(
    case: tuple[Any, ...], dtype: type, layout: str, seed: int = 0
) -> tuple[list[Any], dict[str, Any]]:
    input_shape, weight_shape, with_bias, params = case
    rng = np.random.default_rng(seed)
    arrays = [
        _input(rng, input_shape, dtype, layout),
        _input(rng, weight_shape, dtype, layout),
    ]
    if with_bias:
        arrays.append(rng.normal(size=weight_shape[0]).astype(dtype))
    return arrays, params


@TORCH_EVEN_SAME
@LAYOUTS
@DTYPES
@pytest.mark.parametrize("name", sorted(CONV2D))
def test_conv2d_grid_matches_torch(torch: ModuleType, name: str, dtype: type, layout: str) -> None:
    arrays, params = _conv_arrays(CONV2D[name], dtype, layout)
    assert_matches_torch(
        torch,
        lambda *xs: functional.conv2d(*xs, **params),
        lambda *xs: torch.nn.functional.conv2d(*xs, **params),
        arrays,
        dtype,
    )


@TORCH_EVEN_SAME
@LAYOUTS
@DTYPES
@pytest.mark.parametrize("name", sorted(CONV1D))
def test_conv1d_grid_matches_torch(torch: ModuleType, name: str, dtype: type, layout: str) -> None:
    arrays, params = _conv_arrays(CONV1D[name], dtype, layout)
    assert_matches_torch(
        torch,
        lambda *xs: functional.conv1d(*xs, **params),
        lambda *xs: torch.nn.functional.conv1d(*xs, **params),
        arrays,
        dtype,
    )


MAX_POOL = {
    "ceil_mode_padding": (
        (2, 2, 7, 6),
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    ),
    "ceil_mode_uneven": (
        (1, 3, 8, 5),
        {"kernel_size": (2, 3), "stride": (3, 2), "ceil_mode": True},
    ),
    "dilated_padded": ((2, 1, 9, 8), {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}),
    "overlapping": ((1, 2, 5, 5), {"kernel_size": 3, "stride": 1}),
    "stride_defaults_to_kernel": ((2, 2, 7, 7), {"kernel_size": 2}),
}

AVG_POOL = {
    "ceil_mode_include_pad": (
        (2, 2, 7, 6),
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    ),
    "ceil_mode_exclude_pad": (
        (2, 2, 7, 6),
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
    ),
    "padding_pair_exclude_pad": (
        (1, 3, 5, 8),
        {"kernel_size": (2, 4), "stride": (1, 3), "padding": (1, 2), "count_include_pad": False},
    ),
    "ceil_mode_no_padding": ((1, 1, 7, 7), {"kernel_size": 2, "ceil_mode": True}),
}


@LAYOUTS
@DTYPES
@pytest.mark.parametrize("name", sorted(MAX_POOL))
def test_max_pool2d_grid_matches_torch(
    torch: ModuleType, name: str, dtype: type, layout: str
) -> None:
    shape, params = MAX_POOL[name]
    x = _input(np.random.default_rng(1), shape, dtype, layout)
    assert_matches_torch(
        torch,
        lambda x: functional.max_pool2d(x, **params),
        lambda x: torch.nn.functional.max_pool2d(x, **params),
        [x],
        dtype,
    )


@LAYOUTS
@DTYPES
@pytest.mark.parametrize("name", sorted(AVG_POOL))
def test_avg_pool2d_grid_matches_torch(
    torch: ModuleType, name: str, dtype: type, layout: str
) -> None:
    shape, params = AVG_POOL[name]
    x = _input(np.random.default_rng(2), shape, dtype, layout)
    assert_matches_torch(
        torch,
        lambda x: functional.avg_pool2d(x, **params),
        lambda x: torch.nn.functional.avg_pool2d(x, **params),
        [x],
        dtype,
    )


@pytest.mark.parametrize("name", sorted(MAX_POOL))
def test_max_pool2d_sends_tied_gradients_where_torch_does(torch: ModuleType, name: str) -> None:
    # Values on a coarse grid, so most windows hold several equal maxima; the gradient of
    # each must land on the same entry as torch's, exactly.
    shape, params = MAX_POOL[name]
    x = np.random.default_rng(3).integers(0, 3, size=shape).astype(np.float64)
    ours = cr.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = functional.max_pool2d(ours, **params)
    reference = torch.nn.functional.max_pool2d(theirs, **params)
    cotangent = np.arange(1.0, out.numpy().size + 1).reshape(out.shape)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    assert ours.grad is not None
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


# --- second order, with a cotangent that depends on the inputs (sum of sin of the output),
# so the gradient of the recorded backward reaches its upstream argument too.
SECOND_ORDER = {
    "conv2d": (
        [(2, 4, 6, 5), (6, 2, 3, 2), (6,)],
        lambda f: (
            lambda x, w, b: f.conv2d(
                x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2
            )
        ),
    ),
    "conv1d": (
        [(2, 3, 9), (2, 3, 3), (2,)],
        lambda f: lambda x, w, b: f.conv1d(x, w, b, stride=2, padding=1, dilation=2),
    ),
    "max_pool2d": (
        [(2, 2, 7, 6)],
        lambda f: lambda x: f.max_pool2d(x * x, 3, stride=2, padding=1, ceil_mode=True),
    ),
    "avg_pool2d": (
        [(2, 2, 7, 6)],
        lambda f: (
            lambda x: f.avg_pool2d(
                x * x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False
            )
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_gradient_of_gradient_matches_torch(torch: ModuleType, name: str) -> None:
    shapes, build = SECOND_ORDER[name]
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=shape) for shape in shapes]
    directions = [rng.normal(size=shape) for shape in shapes]

    our_inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    build(functional)(*our_inputs).sin().sum().backward(create_graph=True)
    first = [tensor.grad for tensor in our_inputs]
    for tensor in our_inputs:
        tensor.grad = None
    penalty = cr.tensor(0.0, dtype=np.float64)
    for grad, direction in zip(first, directions, strict=True):
        assert grad is not None
        penalty = penalty + (grad * cr.tensor(direction)).sum()
    penalty.backward()

    their_inputs = [torch.tensor(array, requires_grad=True) for array in arrays]
    loss = build(torch.nn.functional)(*their_inputs).sin().sum()
    their_first = torch.autograd.grad(loss, their_inputs, create_graph=True)
    their_penalty = sum(
        (grad * torch.from_numpy(direction)).sum()
        for grad, direction in zip(their_first, directions, strict=True)
    )
    second = torch.autograd.grad(their_penalty, their_inputs)
    for mine, reference in zip(our_inputs, second, strict=True):
        assert mine.grad is not None
        assert relative_error(mine.grad.numpy(), reference.numpy()) <= 1e-11


# --- float64 central differences, independent of torch
CENTRAL = {
    "conv2d": (
        [(1, 4, 5, 4), (2, 2, 2, 3), (2,)],
        lambda x, w, b: functional.conv2d(
            x, w, b, stride=(1, 2), padding=1, dilation=(2, 1), groups=2
        ),
    ),
    "conv1d_same": ([(2, 2, 6), (3, 2, 4)], lambda x, w: functional.conv1d(x, w, padding="same")),
    "avg_pool2d": (
        [(1, 2, 5, 6)],
        lambda x: functional.avg_pool2d(
            x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False
        ),
    ),
    "max_pool2d": (
        [(1, 2, 5, 6)],
        lambda x: functional.max_pool2d(x, (3, 2), stride=(2, 1), padding=1),
    ),
}


@pytest.mark.parametrize("name", sorted(CENTRAL))
def test_gradients_match_central_differences(name: str) -> None:
    shapes, op = CENTRAL[name]
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=shape) for shape in shapes]
    weights = rng.normal(size=op(*arrays).shape)
    inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    (op(*inputs) * cr.tensor(weights)).sum().backward()
    for position, tensor in enumerate(inputs):

        def loss(point: np.ndarray, position: int = position) -> float:
            args = [point if i == position else array for i, array in enumerate(arrays)]
            return float((op(*args).numpy() * weights).sum())

        assert tensor.grad is not None
        assert relative_error(tensor.grad.numpy(), numerical_grad(loss, arrays[position])) <= 1e-7


# --- ported from PyTorch's test/test_nn.py module tests (their shapes and settings; the
# check is ours: values and every gradient against torch)
TORCH_MODULE_TESTS = {
    "Conv1d_stride": ((2, 4, 10), (5, 4, 3), True, {"stride": 2}),
    "Conv1d_pad2size1": ((2, 4, 10), (4, 4, 1), True, {"padding": 2}),
    "Conv1d_groups": ((2, 4, 6), (6, 2, 3), True, {"groups": 2}),
    "Conv2d_strided_padded": ((2, 3, 6, 6), (4, 3, 3, 3), True, {"stride": 2, "padding": 1}),
    "Conv2d_dilated": ((2, 3, 8, 8), (4, 3, 3, 2), True, {"dilation": 2}),
    "Conv2d_groups_thnn": ((2, 4, 6, 5), (6, 2, 3, 2), True, {"groups": 2}),
    "Conv2d_depthwise_strided": ((2, 4, 6, 6), (4, 1, 3, 3), True, {"stride": 2, "groups": 4}),
    "Conv2d_depthwise_padded": ((2, 4, 6, 6), (4, 1, 3, 3), True, {"padding": 1, "groups": 4}),
}


@pytest.mark.parametrize("name", sorted(TORCH_MODULE_TESTS))
def test_torch_module_test_conv_cases_match_torch(torch: ModuleType, name: str) -> None:
    arrays, params = _conv_arrays(TORCH_MODULE_TESTS[name], np.float64, "contiguous", seed=6)
    spatial = arrays[0].ndim - 2
    ours = functional.conv1d if spatial == 1 else functional.conv2d
    theirs = torch.nn.functional.conv1d if spatial == 1 else torch.nn.functional.conv2d
    assert_matches_torch(
        torch,
        lambda *xs: ours(*xs, **params),
        lambda *xs: theirs(*xs, **params),
        arrays,
        np.float64,
    )


# --- bad input: a clear error naming the shapes, never a NumPy traceback or a wrong shape
def test_groups_that_do_not_divide_the_input_channels_name_both_shapes() -> None:
    with pytest.raises(
        ValueError, match=r"^conv2d: input \(1, 3, 5, 5\) has 3 channels, but weight \(4, 1, 3, 3\)"
    ):
        functional.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)), groups=2)


def test_conv1d_output_of_no_positions_is_refused_by_shape() -> None:
    with pytest.raises(
        ValueError, match=r"^conv1d: kernel \(4,\) with dilation \(2,\) spans \(7,\)"
    ):
        functional.conv1d(np.zeros((1, 1, 5)), np.zeros((1, 1, 4)), dilation=2, padding=0)


# --- defects this review fixed
@pytest.mark.parametrize("spatial", [1, 2])
def test_a_float64_bias_on_float32_input_and_weight_promotes_the_result(spatial: int) -> None:
    # The bias was added in place into the float32 output: rounded to float32, where
    # x + b, linear and a float64 weight all give float64.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 2, *(5,) * spatial)).astype(np.float32)
    w = rng.normal(size=(3, 2, *(3,) * spatial)).astype(np.float32)
    b = cr.tensor(rng.normal(size=3) * (1 + 2.0**-40), requires_grad=True)
    conv = functional.conv1d if spatial == 1 else functional.conv2d
    out = conv(x, w, b)
    assert out.dtype == np.float64
    expected = conv(x, w).numpy().astype(np.float64) + b.numpy().reshape(-1, *(1,) * spatial)
    np.testing.assert_array_equal(out.numpy(), expected)
    out.sum().backward()
    assert b.grad is not None
    assert b.grad.dtype == np.float64
    np.testing.assert_array_equal(b.grad.numpy(), np.full(3, 2.0 * 3**spatial))


@pytest.mark.parametrize(
    ("op", "input_shape", "weight_shape"),
    [
        (functional.conv2d, (1, 2, 5, 5), (3, 2, 0, 3)),
        (functional.conv2d, (1, 2, 5, 5), (0, 2, 3, 3)),
        (functional.conv1d, (1, 2, 5), (3, 2, 0)),
    ],
)
def test_a_weight_with_an_empty_kernel_axis_or_no_output_channels_is_refused(
    torch: ModuleType, op: Any, input_shape: tuple[int, ...], weight_shape: tuple[int, ...]
) -> None:
    # A kernel axis of 0 gave an all-zero output one position longer than the input; no
    # output channels, NumPy's "cannot reshape array of size 0". PyTorch refuses both.
    theirs = getattr(torch.nn.functional, op.__name__)
    with pytest.raises(RuntimeError):
        theirs(torch.zeros(input_shape), torch.zeros(weight_shape))
    shape = str(weight_shape).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"^{op.__name__}: weight {shape} has no output channels"):
        op(np.zeros(input_shape), np.zeros(weight_shape))


def test_max_pool2d_padding_bound_ignores_the_dilation_as_torch(torch: ModuleType) -> None:
    # Bounded by half the dilated span (2 for kernel 3, dilation 2), where PyTorch bounds
    # it by half the kernel_size (1), and a message that said "as PyTorch requires".
    x = np.zeros((1, 1, 8, 8))
    with pytest.raises(RuntimeError, match="pad should be smaller than or equal to half"):
        torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, padding=2, dilation=2)
    with pytest.raises(
        ValueError, match=r"^max_pool2d: padding \(2, 2\) must be at most half the kernel_size"
    ):
        functional.max_pool2d(x, 3, padding=2, dilation=2)
    reference = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, padding=1, dilation=2)
    assert functional.max_pool2d(x, 3, padding=1, dilation=2).shape == tuple(reference.shape)


def test_max_pool2d_window_that_reads_only_padding_is_refused() -> None:
    # A 1-row input, kernel 2 dilated by 2, padding 1: the rows read are -1 and 1, both
    # padding. The max was -inf with a zero gradient; PyTorch returns -inf too and its
    # backward reads outside the input. Now a clear error.
    x = np.arange(3.0).reshape(1, 1, 1, 3)
    with pytest.raises(
        ValueError,
        match=r"^max_pool2d: on input \(1, 1, 1, 3\), kernel_size \(2, 2\) with dilation "
        r"\(2, 2\) and padding \(1, 1\) gives a window \(number 0 along H\) that reads only",
    ):
        functional.max_pool2d(x, 2, stride=1, padding=1, dilation=2)
    # The same kernel reaches the input from every window along the wider axis.
    out = functional.max_pool2d(x, (1, 2), stride=1, padding=(0, 1), dilation=(1, 2))
    np.testing.assert_array_equal(out.numpy(), [[[[1.0, 2.0, 1.0]]]])


def test_a_pool_window_that_fits_nowhere_names_the_axis_and_the_input_shape() -> None:
    # The message gave the kernel and one padded size, not which axis nor the input's shape.
    with pytest.raises(
        ValueError,
        match=r"^avg_pool2d: kernel \(3, 7\) with dilation \(1, 1\) spans 7 along W, "
        r"larger than the input \(1, 2, 5, 6\) there padded by 0 on each side \(6\)",
    ):
        functional.avg_pool2d(np.zeros((1, 2, 5, 6)), (3, 7))


def test_an_unbatched_input_is_named_by_the_shape_it_was_given() -> None:
    # The messages showed the batched (1, C, ...) shape made inside, not the user's.
    with pytest.raises(ValueError, match=r"^conv2d: input \(3, 5, 5\) has 3 channels"):
        functional.conv2d(np.zeros((3, 5, 5)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"^conv1d: input \(3, 5\) has 3 channels"):
        functional.conv1d(np.zeros((3, 5)), np.zeros((4, 2, 3)))
    with pytest.raises(
        ValueError, match=r"spans 3 along H, larger than the input \(3, 2, 5\) there padded"
    ):
        functional.max_pool2d(np.zeros((3, 2, 5)), 3)
    with pytest.raises(ValueError, match=r"^max_pool2d: on input \(3, 1, 3\), kernel_size"):
        functional.max_pool2d(np.zeros((3, 1, 3)), 2, stride=1, padding=1, dilation=2)
