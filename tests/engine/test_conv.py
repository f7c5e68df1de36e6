"""conv1d, conv2d, max_pool2d, avg_pool2d and adaptive_avg_pool2d against
torch.nn.functional: values and the gradients of input, weight and bias, in float32 and
float64, over strides, paddings, dilations, groups and odd sizes; second order; clear errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import relative_error

import chainrule as cr
from chainrule import functional

pytestmark = pytest.mark.torch

TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
# PyTorch warns that it copies the input to pad an even kernel's 'same' unevenly: its note on
# its own speed, not about the result we compare with.
TORCH_EVEN_SAME = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


def assert_matches_torch(
    torch: ModuleType,
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    shapes: list[tuple[int, ...]],
    dtype: type,
    seed: int = 0,
) -> None:
    """Values, then the gradient of every input for a random cotangent, to TOLERANCE."""
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=shape).astype(dtype) for shape in shapes]
    our_inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    their_inputs = [torch.tensor(array, requires_grad=True) for array in arrays]
    out = ours(*our_inputs)
    reference = theirs(*their_inputs)
    assert out.shape == tuple(reference.shape)
    assert out.dtype == np.dtype(dtype)
    cotangent = rng.normal(size=out.shape).astype(dtype)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    tolerance = TOLERANCE[dtype]
    assert relative_error(out.numpy(), reference.detach().numpy()) <= tolerance
    for mine, torch_input in zip(our_inputs, their_inputs, strict=True):
        assert mine.grad is not None
        assert mine.grad.dtype == np.dtype(dtype)
        assert relative_error(mine.grad.numpy(), torch_input.grad.numpy()) <= tolerance


CONV2D = [
    # (input, weight, bias?) shapes and the keyword arguments both libraries take
    (((2, 3, 7, 6), (4, 3, 3, 3), True), {}),
    (((2, 3, 7, 6), (4, 3, 3, 3), True), {"stride": 2, "padding": 1}),
    (((1, 4, 9, 8), (6, 2, 3, 2), True), {"stride": (2, 1), "padding": (1, 2), "groups": 2}),
    (((2, 2, 9, 7), (3, 2, 2, 3), False), {"dilation": (2, 1), "padding": 2}),
    (((1, 6, 5, 5), (6, 1, 3, 3), True), {"groups": 6, "padding": 1}),  # depthwise
    (((2, 3, 7, 6), (5, 3, 4, 2), True), {"padding": "same"}),  # even kernel: extra after
    (((2, 3, 8, 7), (2, 3, 3, 3), True), {"padding": "same", "dilation": 2}),
    (((2, 3, 5, 4), (2, 3, 5, 4), True), {"padding": "valid"}),  # kernel = input: 1x1 out
    (((1, 1, 11, 3), (2, 1, 3, 3), True), {"stride": 3}),  # stride leaves entries unread
]


@TORCH_EVEN_SAME
@DTYPES
@pytest.mark.parametrize(("shapes", "params"), CONV2D, ids=[str(p) for _, p in CONV2D])
def test_conv2d_values_and_gradients_match_torch(
    torch: ModuleType, shapes: tuple[Any, ...], params: dict[str, Any], dtype: type
) -> None:
    x_shape, w_shape, has_bias = shapes
    input_shapes = [x_shape, w_shape] + ([(w_shape[0],)] if has_bias else [])
    assert_matches_torch(
        torch,
        lambda *xs: functional.conv2d(*xs, **params),
        lambda *xs: torch.nn.functional.conv2d(*xs, **params),
        input_shapes,
        dtype,
    )


CONV1D = [
    (((2, 3, 9), (4, 3, 3), True), {}),
    (((2, 4, 10), (6, 2, 3), True), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}),
    (((1, 2, 7), (3, 2, 4), False), {"padding": "same"}),
]


@TORCH_EVEN_SAME
@DTYPES
@pytest.mark.parametrize(("shapes", "params"), CONV1D, ids=[str(p) for _, p in CONV1D])
def test_conv1d_values_and_gradients_match_torch(
    torch: ModuleType, shapes: tuple[Any, ...], params: dict[str, Any], dtype: type
) -> None:
    x_shape, w_shape, has_bias = shapes
    input_shapes = [x_shape, w_shape] + ([(w_shape[0],)] if has_bias else [])
    assert_matches_torch(
        torch,
        lambda *xs: functional.conv1d(*xs, **params),
        lambda *xs: torch.nn.functional.conv1d(*xs, **params),
        input_shapes,
        dtype,
    )


def test_conv2d_takes_an_unbatched_input_as_torch(torch: ModuleType) -> None:
    assert_matches_torch(
        torch,
        lambda x, w: functional.conv2d(x, w, padding=1),
        lambda x, w: torch.nn.functional.conv2d(x, w, padding=1),
        [(3, 5, 6), (2, 3, 3, 3)],
        np.float64,
    )


def test_conv2d_output_is_an_ordinary_tensor_for_reshape_and_in_place_ops() -> None:
    # The output is a transposed view of the product (see primitives/conv.py): reshaping
    # and in-place updates must still see the (N, C, H, W) values.
    x = np.arange(2 * 1 * 3 * 3, dtype=np.float64).reshape(2, 1, 3, 3)
    w = np.ones((2, 1, 1, 1))
    out = functional.conv2d(cr.tensor(x), cr.tensor(w))
    np.testing.assert_array_equal(out.reshape((2, -1)).numpy()[:, :9], x.reshape(2, 9))
    out += 1
    np.testing.assert_array_equal(out.numpy()[:, 1], x[:, 0] + 1)


MAX_POOL = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((2, 3, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 9, 8), {"kernel_size": (3, 2), "stride": (2, 3), "dilation": (2, 1)}),
    ((1, 2, 5, 5), {"kernel_size": 2, "stride": 1}),  # overlapping windows
]


@DTYPES
@pytest.mark.parametrize(("shape", "params"), MAX_POOL, ids=[str(p) for _, p in MAX_POOL])
def test_max_pool2d_values_and_gradients_match_torch(
    torch: ModuleType, shape: tuple[int, ...], params: dict[str, Any], dtype: type
) -> None:
    assert_matches_torch(
        torch,
        lambda x: functional.max_pool2d(x, **params),
        lambda x: torch.nn.functional.max_pool2d(x, **params),
        [shape],
        dtype,
    )


def test_max_pool2d_sends_the_gradient_to_the_first_maximum_of_a_tie(torch: ModuleType) -> None:
    # Every window of a constant image ties; PyTorch picks the first entry in row-major order.
    x = np.zeros((1, 1, 4, 5))
    ours = cr.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    functional.max_pool2d(ours, 2, stride=1).sum().backward()
    torch.nn.functional.max_pool2d(theirs, 2, stride=1).sum().backward()
    assert ours.grad is not None
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    expected = np.zeros((4, 5))
    expected[:3, :4] = 1  # each window's top-left entry
    np.testing.assert_array_equal(ours.grad.numpy()[0, 0], expected)


def _max_pool_gradient_pair(
    torch: ModuleType, x: np.ndarray, **params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The gradient of max_pool2d(x) for the cotangent 1, 2, 3, ... (so each window's share
    is told apart), ours and PyTorch's; the values are checked equal on the way."""
    ours = cr.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = functional.max_pool2d(ours, **params)
    reference = torch.nn.functional.max_pool2d(theirs, **params)
    np.testing.assert_array_equal(out.numpy(), reference.detach().numpy())
    cotangent = np.arange(1.0, out.size + 1).reshape(out.shape)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    assert ours.grad is not None
    return ours.grad.numpy(), theirs.grad.numpy()


def test_max_pool2d_sends_the_gradient_to_the_last_nan_of_a_window_as_torch(
    torch: ModuleType,
) -> None:
    # The maximum of a window holding NaN is NaN, which equals no entry: the gradient was
    # dropped (all zeros). PyTorch's scan moves to every NaN, so the last one wins.
    x = np.array([[[[1.0, np.nan, 7.0, 1.0], [np.nan, 2.0, 1.0, 9.0]]]])
    ours, theirs = _max_pool_gradient_pair(torch, x, kernel_size=2)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours[0, 0], [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 2.0]])


def test_max_pool2d_sends_the_gradient_of_a_window_of_minus_inf_to_the_input_not_the_padding(
    torch: ModuleType,
) -> None:
    # A window whose entries are all -inf ties with its -inf padding; the padding came first
    # in row-major order and took (and lost) the gradient. PyTorch never reads the padding:
    # the window's first entry of the input wins.
    x = np.full((1, 1, 3, 3), -np.inf)
    ours, theirs = _max_pool_gradient_pair(torch, x, kernel_size=3, stride=1, padding=1)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.sum() == np.arange(1.0, 10.0).sum()


@pytest.mark.parametrize("library", ["array_api_strict"])
def test_max_pool2d_picks_torchs_winner_of_nan_and_minus_inf_windows_on_array_backends(
    torch: ModuleType, library: str
) -> None:
    xp = pytest.importorskip(library)
    x = np.where(np.arange(30.0).reshape(1, 1, 5, 6) % 4 == 0, -np.inf, 1.0)
    x[0, 0, 3, 2] = np.nan
    ours = cr.tensor(xp.asarray(x), requires_grad=True)
    out = functional.max_pool2d(ours, 3, stride=2, padding=1, ceil_mode=True)
    cotangent = np.arange(1.0, math.prod(out.shape) + 1).reshape(out.shape)
    out.backward(cr.tensor(xp.asarray(cotangent)))
    assert ours.grad is not None
    _, theirs = _max_pool_gradient_pair(
        torch, x, kernel_size=3, stride=2, padding=1, ceil_mode=True
    )
    np.testing.assert_array_equal(ours.grad.numpy(), theirs)


@pytest.mark.parametrize(
    "params",
    [
        {"kernel_size": (2, 3), "ceil_mode": True},
        {"kernel_size": (2, 4), "stride": 3, "padding": (0, 1), "ceil_mode": True},
        {"kernel_size": (3, 3), "stride": (3, 3), "ceil_mode": True, "count_include_pad": False},
    ],
    ids=str,
)
def test_pooling_with_ceil_mode_keeps_a_window_wider_than_the_padded_input_as_torch(
    torch: ModuleType, params: dict[str, Any]
) -> None:
    # (8, 1) images: under ceil_mode PyTorch keeps a window that reaches past the padding
    # while it starts inside the input; these were refused as "kernel larger than input".
    shape = (2, 1, 8, 1)
    assert_matches_torch(
        torch,
        lambda x: functional.avg_pool2d(x, **params),
        lambda x: torch.nn.functional.avg_pool2d(x, **params),
        [shape],
        np.float64,
    )
    if "count_include_pad" not in params:
        assert_matches_torch(
            torch,
            lambda x: functional.max_pool2d(x, **params),
            lambda x: torch.nn.functional.max_pool2d(x, **params),
            [shape],
            np.float64,
        )


AVG_POOL = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((2, 3, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 3, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ((1, 2, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    (
        (1, 2, 8, 7),
        {"kernel_size": (3, 2), "stride": (2, 3), "padding": (1, 1), "ceil_mode": True},
    ),
    (
        (1, 2, 8, 7),
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
    ),
]


@DTYPES
@pytest.mark.parametrize(("shape", "params"), AVG_POOL, ids=[str(p) for _, p in AVG_POOL])
def test_avg_pool2d_values_and_gradients_match_torch(
    torch: ModuleType, shape: tuple[int, ...], params: dict[str, Any], dtype: type
) -> None:
    assert_matches_torch(
        torch,
        lambda x: functional.avg_pool2d(x, **params),
        lambda x: torch.nn.functional.avg_pool2d(x, **params),
        [shape],
        dtype,
    )


@DTYPES
@pytest.mark.parametrize(
    ("shape", "output_size"),
    [((2, 3, 8, 8), 4), ((1, 2, 7, 5), (3, 2)), ((1, 2, 5, 7), (None, 3)), ((3, 6, 5), 1)],
)
def test_adaptive_avg_pool2d_values_and_gradients_match_torch(
    torch: ModuleType, shape: tuple[int, ...], output_size: Any, dtype: type
) -> None:
    assert_matches_torch(
        torch,
        lambda x: functional.adaptive_avg_pool2d(x, output_size),
        lambda x: torch.nn.functional.adaptive_avg_pool2d(x, output_size),
        [shape],
        dtype,
    )


# --------------------------------------------------------------- second order
def _directional_second_derivatives(
    torch: ModuleType, ours: Callable[..., Any], theirs: Callable[..., Any], shapes: list[Any]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """d/d(inputs) of sum(grad * grad), grad = d<out, w>/d(inputs), in both libraries."""
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=shape) for shape in shapes]
    our_inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    out = ours(*our_inputs)
    cotangent = rng.normal(size=out.shape)
    out.backward(cotangent, create_graph=True)
    first = [tensor.grad for tensor in our_inputs]
    for tensor in our_inputs:
        tensor.grad = None
    penalty = cr.tensor(0.0, dtype=np.float64)
    for grad in first:
        assert grad is not None
        penalty = penalty + (grad * grad).sum()
    penalty.backward()
    their_inputs = [torch.tensor(array, requires_grad=True) for array in arrays]
    their_first = torch.autograd.grad(
        theirs(*their_inputs), their_inputs, torch.from_numpy(cotangent), create_graph=True
    )
    second = torch.autograd.grad(
        sum((g * g).sum() for g in their_first), their_inputs, allow_unused=True
    )
    return [
        (
            np.zeros_like(array) if mine.grad is None else mine.grad.numpy(),
            np.zeros_like(array) if reference is None else reference.numpy(),
        )
        for array, mine, reference in zip(arrays, our_inputs, second, strict=True)
    ]


def test_conv2d_gradient_of_gradient_matches_torch(torch: ModuleType) -> None:
    pairs = _directional_second_derivatives(
        torch,
        lambda x, w, b: functional.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2),
        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2),
        [(2, 4, 5, 4), (4, 2, 3, 2), (4,)],
    )
    for mine, reference in pairs[:2]:  # the bias enters linearly: its second derivative is 0
        assert relative_error(mine, reference) <= 1e-12
    np.testing.assert_array_equal(pairs[2][0], np.zeros(4))


def test_pooling_gradient_of_gradient_matches_torch(torch: ModuleType) -> None:
    # Squared first, so the second derivative through each pool is not zero.
    pairs = _directional_second_derivatives(
        torch,
        lambda x: functional.avg_pool2d(functional.max_pool2d(x * x, 2, stride=1), 2, padding=1),
        lambda x: torch.nn.functional.avg_pool2d(
            torch.nn.functional.max_pool2d(x * x, 2, stride=1), 2, padding=1
        ),
        [(2, 2, 5, 5)],
    )
    for mine, reference in pairs:
        assert relative_error(mine, reference) <= 1e-12


# ------------------------------------------- ported from tinygrad's test/test_ops.py
# The shapes and settings of tinygrad's test_simple_conv2d, test_strided_conv2d,
# test_dilated_conv2d, test_grouped_conv2d, test_maxpool2d and test_avgpool2d, checked
# against PyTorch the same way (values, then the gradient of every input).
TINYGRAD_CONV = {
    "simple_conv2d": ([(1, 4, 9, 9), (4, 4, 3, 3)], {}),
    "strided_conv2d": ([(4, 3, 11, 10), (4, 3, 3, 3)], {"stride": 2}),
    "strided_conv2d_uneven": ([(4, 3, 11, 10), (4, 3, 3, 3)], {"stride": (2, 1)}),
    "dilated_conv2d": ([(4, 3, 10, 10), (4, 3, 3, 3)], {"dilation": 2}),
    "grouped_conv2d": ([(4, 4, 5, 5), (6, 2, 3, 3)], {"groups": 2}),
}


@pytest.mark.parametrize("name", sorted(TINYGRAD_CONV))
def test_tinygrad_conv2d_cases_match_torch(torch: ModuleType, name: str) -> None:
    shapes, params = TINYGRAD_CONV[name]
    assert_matches_torch(
        torch,
        lambda x, w: functional.conv2d(x, w, **params),
        lambda x, w: torch.nn.functional.conv2d(x, w, **params),
        shapes,
        np.float32,
    )


@pytest.mark.parametrize("kernel_size", [(1, 1), (2, 2), (3, 3), (3, 2), (5, 5), (5, 1)])
def test_tinygrad_maxpool2d_kernel_sizes_match_torch(
    torch: ModuleType, kernel_size: tuple[int, int]
) -> None:
    assert_matches_torch(
        torch,
        lambda x: functional.max_pool2d(x, kernel_size),
        lambda x: torch.nn.functional.max_pool2d(x, kernel_size),
        [(4, 2, 22, 14)],
        np.float32,
    )


@pytest.mark.parametrize("kernel_size", [(1, 1), (2, 2), (3, 3), (3, 2), (5, 5), (5, 1)])
def test_tinygrad_avgpool2d_kernel_sizes_match_torch(
    torch: ModuleType, kernel_size: tuple[int, int]
) -> None:
    assert_matches_torch(
        torch,
        lambda x: functional.avg_pool2d(x, kernel_size),
        lambda x: torch.nn.functional.avg_pool2d(x, kernel_size),
        [(4, 2, 22, 14)],
        np.float32,
    )


# ------------------------------- ported from PyTorch's common_nn module tests
# Its "zero_batch" entries run Conv1d, Conv2d and the pools on a batch of 0 samples: the
# output is empty in the right shape and the weight's gradient is zeros.
ZERO_BATCH = {
    "conv1d": ([(0, 4, 10), (6, 4, 3), (6,)], {"stride": 2, "padding": 1}),
    "conv2d": ([(0, 4, 6, 5), (4, 2, 3, 2), (4,)], {"stride": 2, "padding": 1, "groups": 2}),
    "max_pool2d": ([(0, 3, 6, 5)], {"kernel_size": 2, "padding": 1}),
    "avg_pool2d": ([(0, 3, 6, 5)], {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
}


@pytest.mark.parametrize("op", sorted(ZERO_BATCH))
def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients_as_torch(
    torch: ModuleType, op: str
) -> None:
    # conv's backward reshaped the empty upstream gradient with -1, which NumPy cannot infer.
    shapes, params = ZERO_BATCH[op]
    assert_matches_torch(
        torch,
        lambda *inputs: getattr(functional, op)(*inputs, **params),
        lambda *inputs: getattr(torch.nn.functional, op)(*inputs, **params),
        shapes,
        np.float64,
    )


# ------------------------------------------------------------------ errors
def _conv(x_shape: tuple[int, ...], w_shape: tuple[int, ...], **params: Any) -> Any:
    return functional.conv2d(np.zeros(x_shape), np.zeros(w_shape), **params)


def test_conv2d_channel_mismatch_names_both_shapes() -> None:
    with pytest.raises(
        ValueError,
        match=r"^conv2d: input \(2, 3, 8, 8\) has 3 channels, but weight \(4, 2, 3, 3\) "
        r"with groups=1 expects 2",
    ):
        _conv((2, 3, 8, 8), (4, 2, 3, 3))


def test_conv2d_kernel_larger_than_the_padded_input_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^conv2d: kernel \(5, 5\) .* spans \(5, 5\), larger than the padded"
    ):
        _conv((1, 1, 4, 4), (1, 1, 5, 5))
    # The padding counts: the same kernel fits once the input is padded by 1.
    assert _conv((1, 1, 4, 4), (1, 1, 5, 5), padding=1).shape == (1, 1, 2, 2)


def test_conv2d_same_padding_with_a_stride_is_refused_as_in_torch() -> None:
    with pytest.raises(ValueError, match=r"^conv2d: padding='same' needs stride 1"):
        _conv((1, 1, 6, 6), (1, 1, 3, 3), padding="same", stride=2)


def test_conv2d_unknown_padding_string_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^conv2d: padding must be .* got 'full'"):
        _conv((1, 1, 6, 6), (1, 1, 3, 3), padding="full")


def test_conv2d_groups_must_divide_the_output_channels() -> None:
    with pytest.raises(ValueError, match=r"^conv2d: weight \(3, 1, 3, 3\) has 3 output channels"):
        _conv((1, 2, 6, 6), (3, 1, 3, 3), groups=2)


def test_conv2d_bias_needs_one_entry_per_output_channel() -> None:
    with pytest.raises(ValueError, match=r"^conv2d: bias has shape \(3,\), expected \(4,\)"):
        functional.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)), np.zeros(3))


def test_conv2d_input_and_weight_need_four_dimensions() -> None:
    with pytest.raises(ValueError, match=r"^conv2d: input must be \(N, C, H, W\)"):
        _conv((8, 8), (1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"^conv2d: weight must be 4-D"):
        _conv((1, 1, 8, 8), (1, 3, 3))


def test_conv1d_stride_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"^conv1d: stride must be at least 1"):
        functional.conv1d(np.zeros((1, 1, 8)), np.zeros((1, 1, 3)), stride=0)


def test_max_pool2d_padding_over_half_the_kernel_is_refused_as_in_torch() -> None:
    with pytest.raises(ValueError, match=r"^max_pool2d: padding \(2, 2\) must be at most half"):
        functional.max_pool2d(np.zeros((1, 1, 8, 8)), 3, padding=2)


def test_avg_pool2d_kernel_larger_than_the_padded_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^avg_pool2d: kernel \(5, 5\) .* larger than"):
        functional.avg_pool2d(np.zeros((1, 1, 4, 4)), 5)


def test_ceil_mode_still_refuses_a_window_past_the_padding_by_the_stride_as_torch() -> None:
    # PyTorch: "Output size is too small" for a (8, 1) image, kernel (2, 4), stride 2.
    with pytest.raises(ValueError, match=r"^max_pool2d: kernel \(2, 4\) .* by the stride 2 or"):
        functional.max_pool2d(np.zeros((1, 1, 8, 1)), (2, 4), stride=2, ceil_mode=True)


def test_adaptive_avg_pool2d_output_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"^adaptive_avg_pool2d: output_size must be positive"):
        functional.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), 0)


def test_a_float_kernel_size_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^avg_pool2d: kernel_size must be an int or a tuple"):
        functional.avg_pool2d(np.zeros((1, 1, 4, 4)), 2.0)  # type: ignore[arg-type]


def test_adaptive_avg_pool2d_takes_its_output_size_as_a_list_as_torch(torch: ModuleType) -> None:
    # A list was read as one size per axis, each a list, and refused as "not positive integers".
    assert_matches_torch(
        torch,
        lambda x: functional.adaptive_avg_pool2d(x, [2, 3]),
        lambda x: torch.nn.functional.adaptive_avg_pool2d(x, [2, 3]),
        [(2, 3, 7, 5)],
        np.float64,
    )
