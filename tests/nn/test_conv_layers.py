"""nn.Conv1d, nn.Conv2d, the pooling layers, Flatten and Unflatten: PyTorch's constructor
arguments, initialisation bounds and shapes, and the same outputs as torch.nn's layers."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_conv2d_weight_and_bias_are_uniform_within_torchs_bound(torch: ModuleType) -> None:
    # kaiming_uniform_(a=sqrt(5)) and the bias bound both come to 1/sqrt(fan_in), fan_in =
    # in_channels / groups * kH * kW.
    layer = nn.Conv2d(8, 64, (3, 2), groups=2, rng=np.random.default_rng(0))
    theirs = torch.nn.Conv2d(8, 64, (3, 2), groups=2)
    bound = 1 / math.sqrt(8 // 2 * 3 * 2)
    for ours, reference in ((layer.weight, theirs.weight), (layer.bias, theirs.bias)):
        assert ours is not None
        values = ours.numpy()
        assert values.shape == tuple(reference.shape)
        assert np.abs(values).max() <= bound
        assert np.abs(reference.detach().numpy()).max() <= bound
    weights = layer.weight.numpy()
    # A uniform draw on [-b, b] reaches near both ends and has variance b**2 / 3.
    assert weights.min() < -0.95 * bound
    assert weights.max() > 0.95 * bound
    assert abs(weights.var() / (bound**2 / 3) - 1) < 0.15


def test_conv1d_init_bound_uses_its_one_kernel_axis() -> None:
    layer = nn.Conv1d(3, 200, 5, rng=np.random.default_rng(1))
    bound = 1 / math.sqrt(3 * 5)
    assert layer.weight.shape == (200, 3, 5)
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.weight.numpy()).max() > 0.95 * bound


def test_conv_layer_draws_from_its_rng_reproducibly() -> None:
    first = nn.Conv2d(2, 4, 3, rng=np.random.default_rng(7))
    second = nn.Conv2d(2, 4, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(first.weight.numpy(), second.weight.numpy())


def test_conv_layer_without_bias_has_only_a_weight() -> None:
    layer = nn.Conv2d(2, 4, 3, bias=False, rng=np.random.default_rng(0))
    assert layer.bias is None
    assert sorted(layer.state_dict()) == ["weight"]


def _copy_weights(torch: ModuleType, ours: nn.Module, theirs: Any) -> None:
    with torch.no_grad():
        for name, param in theirs.named_parameters():
            param.copy_(torch.from_numpy(ours.state_dict()[name]))


@pytest.mark.parametrize(
    ("kind", "args", "kwargs", "shape"),
    [
        ("Conv2d", (3, 6, 3), {}, (2, 3, 9, 8)),
        ("Conv2d", (3, 6, (3, 2)), {"stride": 2, "padding": 1}, (2, 3, 9, 8)),
        ("Conv2d", (4, 6, 3), {"groups": 2, "dilation": 2, "padding": "same"}, (1, 4, 9, 8)),
        ("Conv2d", (3, 4, 3), {"padding": 1}, (3, 7, 7)),  # unbatched
        ("Conv1d", (3, 5, 4), {"stride": 3, "padding": 2}, (2, 3, 17)),
        ("Conv1d", (4, 4, 3), {"groups": 4, "padding": "same"}, (2, 4, 10)),
    ],
)
def test_conv_layers_compute_what_torch_nn_computes(
    torch: ModuleType, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any], shape: Any
) -> None:
    ours = getattr(nn, kind)(*args, **kwargs, rng=np.random.default_rng(0), dtype=np.float64)
    theirs = getattr(torch.nn, kind)(*args, **kwargs, dtype=torch.float64)
    _copy_weights(torch, ours, theirs)
    x = np.random.default_rng(1).normal(size=shape)
    out = ours(x)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: nn.MaxPool2d(2), lambda torch: torch.nn.MaxPool2d(2)),
        (
            lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
            lambda torch: torch.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        ),
        (
            lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            lambda torch: torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        ),
        (lambda: nn.AdaptiveAvgPool2d((3, 2)), lambda torch: torch.nn.AdaptiveAvgPool2d((3, 2))),
    ],
    ids=["max", "max_ceil", "avg", "adaptive"],
)
def test_pooling_layers_compute_what_torch_nn_computes(
    torch: ModuleType, ours: Any, theirs: Any
) -> None:
    x = np.random.default_rng(2).normal(size=(2, 3, 7, 6))
    out = ours()(x)
    expected = theirs(torch)(torch.from_numpy(x)).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("start_dim", "end_dim", "expected"),
    [(1, -1, (2, 60)), (0, -1, (120,)), (1, 2, (2, 12, 5)), (-2, -1, (2, 3, 20))],
)
def test_flatten_merges_the_axes_torch_merges(
    torch: ModuleType, start_dim: int, end_dim: int, expected: tuple[int, ...]
) -> None:
    x = np.arange(120.0).reshape(2, 3, 4, 5)
    out = nn.Flatten(start_dim, end_dim)(x)
    assert out.shape == expected
    reference = torch.nn.Flatten(start_dim, end_dim)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(out.numpy(), reference)


def test_flatten_passes_the_gradient_back_in_the_input_shape() -> None:
    x = cr.tensor(np.ones((2, 3, 4)), requires_grad=True)
    (nn.Flatten()(x) * np.arange(12.0)).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(
        x.grad.numpy(), np.broadcast_to(np.arange(12.0), (2, 12)).reshape(2, 3, 4)
    )


def test_unflatten_splits_an_axis_and_refuses_a_size_that_does_not_fit() -> None:
    x = np.zeros((5, 784))
    assert nn.Unflatten(1, (1, 28, 28))(x).shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match=r"^Unflatten: axis 1 of the input \(5, 784\) has 784"):
        nn.Unflatten(1, (1, 8, 8))(x)


def test_conv_layer_refuses_channels_that_groups_do_not_divide() -> None:
    with pytest.raises(ValueError, match=r"^Conv2d: in_channels=3 and out_channels=4 must both"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_conv_layer_refuses_a_non_positive_kernel_size() -> None:
    with pytest.raises(ValueError, match=r"^Conv1d: kernel_size must be at least 1 on every axis"):
        nn.Conv1d(3, 4, 0)


def test_conv_layer_reports_its_settings() -> None:
    layer = nn.Conv2d(1, 16, 3, padding=1, rng=np.random.default_rng(0))
    assert "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=1" in repr(layer)


def test_conv_layer_refuses_a_float_kernel_size_by_name() -> None:
    # A TypeError, as torch.nn.Conv2d's (and chainrule's conv2d's) for a float size.
    with pytest.raises(TypeError, match=r"^Conv2d: kernel_size must be an int or a tuple of 2"):
        nn.Conv2d(1, 1, 3.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("padding", "stride", "error", "message"),
    [
        ("full", 1, ValueError, r"^Conv2d: padding must be an int, a tuple of 2 ints, 'same' or"),
        ("same", 2, ValueError, r"^Conv2d: padding='same' needs stride 1 \(as PyTorch\)"),
        (-1, 1, ValueError, r"^Conv2d: padding must be at least 0 on every axis, got -1"),
        ((1, 1, 1), 1, TypeError, r"^Conv2d: padding must be an int or a tuple of 2 ints"),
    ],
)
def test_conv_layer_refuses_a_bad_padding_when_built_as_torch(
    torch: ModuleType, padding: Any, stride: int, error: type, message: str
) -> None:
    # Accepted by the constructor, refused only by the first forward (torch.nn.Conv2d
    # refuses the strings in its constructor).
    if isinstance(padding, str):
        with pytest.raises(ValueError, match="padding"):
            torch.nn.Conv2d(2, 4, 3, stride=stride, padding=padding)
    with pytest.raises(error, match=message):
        nn.Conv2d(2, 4, 3, stride=stride, padding=padding)
