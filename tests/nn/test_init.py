"""nn-containers: chainrule.nn.init, checked against torch.nn.init's formulas and fans."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import init
from chainrule.nn.flat import buffer_of

GAINS: list[tuple[str, float | None]] = [
    ("linear", None),
    ("conv1d", None),
    ("conv2d", None),
    ("conv3d", None),
    ("conv_transpose1d", None),
    ("conv_transpose2d", None),
    ("conv_transpose3d", None),
    ("sigmoid", None),
    ("tanh", None),
    ("relu", None),
    ("leaky_relu", None),
    ("leaky_relu", 0.2),
    ("leaky_relu", 1),
    ("selu", None),
]


@pytest.mark.parametrize(("nonlinearity", "param"), GAINS)
def test_calculate_gain_equals_torchs(
    torch: ModuleType, nonlinearity: str, param: float | None
) -> None:
    expected = torch.nn.init.calculate_gain(nonlinearity, param)
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)


def test_calculate_gain_refuses_what_torch_refuses() -> None:
    with pytest.raises(ValueError, match="unsupported nonlinearity 'softmax'"):
        init.calculate_gain("softmax")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'identity'"):
        init.calculate_gain("identity")  # torch's name for it is "linear"
    with pytest.raises(ValueError, match="negative slope must be a number, got True"):
        init.calculate_gain("leaky_relu", True)


def _layers(torch: ModuleType) -> list[tuple[Any, Any]]:
    """(chainrule layer, torch layer of the same sizes)."""
    return [
        (nn.Linear(7, 3), torch.nn.Linear(7, 3)),
        (nn.Linear(1, 9), torch.nn.Linear(1, 9)),
        (nn.Conv1d(4, 6, 5), torch.nn.Conv1d(4, 6, 5)),
        (nn.Conv1d(4, 6, 3, groups=2), torch.nn.Conv1d(4, 6, 3, groups=2)),
        (nn.Conv2d(3, 8, (3, 2)), torch.nn.Conv2d(3, 8, (3, 2))),
        (nn.Conv2d(6, 9, 3, groups=3), torch.nn.Conv2d(6, 9, 3, groups=3)),
    ]


def test_fans_of_linear_and_conv_weights_equal_torchs_for_the_same_layer(
    torch: ModuleType,
) -> None:
    # chainrule's Linear stores (in, out), torch's (out, in): the fans are the layer's.
    for ours, theirs in _layers(torch):
        expected = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
        assert init.calculate_fan_in_and_fan_out(ours.weight) == expected, ours
        assert init._calculate_fan_in_and_fan_out(ours.weight) == expected


def test_fans_refuse_fewer_than_two_dimensions() -> None:
    with pytest.raises(ValueError, match=r"shape \(3,\) has no fans"):
        init.calculate_fan_in_and_fan_out(nn.Linear(2, 3).bias)


def _weight(shape: tuple[int, ...]) -> nn.Parameter:
    return nn.Parameter(np.empty(shape, np.float64))


def _kaiming_std(torch: ModuleType, tensor: Any, a: float, mode: str, nl: str) -> float:
    """torch's kaiming std, from its own fan and gain functions."""
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return float(torch.nn.init.calculate_gain(nl, a) / math.sqrt(fan))


CASES = [
    ((400, 300), (300, 400)),  # a chainrule Linear(400, 300) weight, torch's of it
    ((64, 32, 5, 5), (64, 32, 5, 5)),  # a Conv2d weight: the same layout
]


@pytest.mark.parametrize(("shape", "torch_shape"), CASES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(("a", "nonlinearity"), [(0.0, "relu"), (0.1, "leaky_relu"), (0, "tanh")])
def test_kaiming_std_and_bound_are_torchs(
    torch: ModuleType,
    shape: tuple[int, ...],
    torch_shape: tuple[int, ...],
    mode: str,
    a: float,
    nonlinearity: str,
) -> None:
    std = _kaiming_std(torch, torch.empty(torch_shape), a, mode, nonlinearity)
    rng = np.random.default_rng(0)
    normal = init.kaiming_normal_(_weight(shape), a, mode, nonlinearity, rng=rng)
    assert normal.data.std() == pytest.approx(std, rel=0.03)
    assert abs(normal.data.mean()) < 0.03 * std
    uniform = init.kaiming_uniform_(_weight(shape), a, mode, nonlinearity, rng=rng)
    bound = math.sqrt(3) * std
    assert np.abs(uniform.data).max() <= bound
    assert np.abs(uniform.data).max() > 0.99 * bound
    assert uniform.data.std() == pytest.approx(std, rel=0.03)


@pytest.mark.parametrize(("shape", "torch_shape"), CASES)
def test_xavier_std_and_bound_are_torchs(
    torch: ModuleType, shape: tuple[int, ...], torch_shape: tuple[int, ...]
) -> None:
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(torch_shape))
    gain = 5 / 3
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    rng = np.random.default_rng(1)
    normal = init.xavier_normal_(_weight(shape), gain, rng=rng)
    assert normal.data.std() == pytest.approx(std, rel=0.03)
    uniform = init.xavier_uniform_(_weight(shape), gain, rng=rng)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(uniform.data).max() <= bound
    assert np.abs(uniform.data).max() > 0.99 * bound


def test_uniform_normal_constant_zeros_ones_and_eye() -> None:
    rng = np.random.default_rng(2)
    weight = _weight((500, 400))
    init.uniform_(weight, -0.5, 2.0, rng=rng)
    assert weight.data.min() >= -0.5
    assert weight.data.max() < 2.0
    assert weight.data.mean() == pytest.approx(0.75, abs=0.01)
    init.normal_(weight, 1.0, 0.25, rng=rng)
    assert weight.data.mean() == pytest.approx(1.0, abs=0.005)
    assert weight.data.std() == pytest.approx(0.25, rel=0.02)
    np.testing.assert_array_equal(init.constant_(weight, 0.3).data, np.full((500, 400), 0.3))
    np.testing.assert_array_equal(init.zeros_(weight).data, np.zeros((500, 400)))
    np.testing.assert_array_equal(init.ones_(weight).data, np.ones((500, 400)))
    np.testing.assert_array_equal(init.eye_(_weight((2, 3))).data, np.eye(2, 3))
    with pytest.raises(ValueError, match=r"init.eye_: needs a 2-D tensor, got shape \(2,\)"):
        init.eye_(_weight((2,)))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (8, 2, 3)])
def test_orthogonal_gives_orthonormal_rows_or_columns_times_gain(shape: tuple[int, ...]) -> None:
    weight = init.orthogonal_(_weight(shape), gain=2.0, rng=np.random.default_rng(3))
    flat = weight.data.reshape(shape[0], -1)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)


def test_a_seeded_rng_repeats_the_draw_and_float32_is_kept() -> None:
    first = init.kaiming_uniform_(nn.Linear(5, 4).weight, rng=np.random.default_rng(7))
    again = init.kaiming_uniform_(nn.Linear(5, 4).weight, rng=np.random.default_rng(7))
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first.data, again.data)


INITS: list[Callable[[Any], Any]] = [
    lambda w: init.uniform_(w),
    lambda w: init.normal_(w),
    lambda w: init.constant_(w, 2.0),
    lambda w: init.zeros_(w),
    lambda w: init.ones_(w),
    lambda w: init.eye_(w),
    lambda w: init.xavier_uniform_(w),
    lambda w: init.xavier_normal_(w),
    lambda w: init.kaiming_uniform_(w),
    lambda w: init.kaiming_normal_(w),
    lambda w: init.orthogonal_(w),
]


@pytest.mark.parametrize("fill", INITS)
def test_in_place_without_a_graph_counting_a_version(fill: Callable[[Any], Any]) -> None:
    layer = nn.Linear(3, 3)
    layer.flatten_parameters()
    weight = layer.weight
    memory, version = weight.data, weight.version
    x = cr.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    saved = layer(x).sum()  # a graph that saved the weight (for x's gradient)
    assert fill(weight) is weight
    assert weight.data is memory
    assert buffer_of(weight) is not None
    assert weight.version == version + 1
    assert weight.grad_fn is None
    assert weight.is_leaf
    with pytest.raises(RuntimeError):
        saved.backward()  # the values it saved were overwritten


def test_bad_input_names_the_function() -> None:
    with pytest.raises(TypeError, match=r"init.normal_: expects a Tensor or Parameter"):
        init.normal_(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"init.zeros_: the tensor must be floating point"):
        init.zeros_(cr.tensor(np.zeros(3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"init.kaiming_normal_: mode must be 'fan_in' or"):
        init.kaiming_normal_(_weight((2, 2)), mode="in")
    with pytest.raises(ValueError, match=r"init.uniform_: needs a <= b"):
        init.uniform_(_weight((2, 2)), 1.0, 0.0)


def _truncated_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Mean and standard deviation of N(mean, std^2) truncated to [a, b]."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    density = [math.exp(-x * x / 2) / math.sqrt(2 * math.pi) for x in (alpha, beta)]
    mass = (math.erf(beta / math.sqrt(2)) - math.erf(alpha / math.sqrt(2))) / 2
    shift = (density[0] - density[1]) / mass
    variance = 1 + (alpha * density[0] - beta * density[1]) / mass - shift**2
    return mean + std * shift, std * math.sqrt(variance)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, -1.0, 4.0), (0.0, 0.02, -0.04, 0.04), (3.0, 1.0, 3.5, 9.0)],
    ids=str,
)
def test_trunc_normal_draws_the_truncated_normal(
    mean: float, std: float, a: float, b: float
) -> None:
    samples = 400_000
    weight = cr.tensor(np.empty((samples // 400, 400)))
    init.trunc_normal_(weight, mean, std, a, b, rng=np.random.default_rng(0))
    values = weight.numpy()
    assert a <= values.min()
    assert values.max() <= b
    expected_mean, expected_std = _truncated_moments(mean, std, a, b)
    # Five standard errors: of the mean, std / sqrt(n); of the sample std, std sqrt((k - 1)
    # / 4n) for the kurtosis k (estimated from the sample: a one-sided cut raises it).
    kurtosis = np.mean((values - values.mean()) ** 4) / values.var() ** 2
    assert abs(values.mean() - expected_mean) <= 5 * expected_std / math.sqrt(samples)
    std_error = expected_std * math.sqrt((kurtosis - 1) / (4 * samples))
    assert abs(values.std() - expected_std) <= 5 * std_error


def test_trunc_normal_inverse_error_function_matches_torchs(torch: ModuleType) -> None:
    from chainrule.nn.init import _erfinv

    grid = np.linspace(-0.9999, 0.9999, 4001)
    np.testing.assert_allclose(
        _erfinv(grid), torch.erfinv(torch.tensor(grid)).numpy(), rtol=1e-13, atol=1e-15
    )


def test_trunc_normal_keeps_float32_and_refuses_bad_bounds() -> None:
    weight = cr.tensor(np.empty((3, 4), np.float32))
    init.trunc_normal_(weight, std=0.02, a=-0.04, b=0.04, rng=np.random.default_rng(1))
    assert weight.dtype == np.float32
    with pytest.raises(ValueError, match="trunc_normal_: needs a < b"):
        init.trunc_normal_(weight, a=1.0, b=-1.0)
    with pytest.raises(ValueError, match="trunc_normal_: std must be > 0"):
        init.trunc_normal_(weight, std=0.0)
    with pytest.raises(ValueError, match="probability rounds to 0"):
        init.trunc_normal_(weight, mean=0.0, std=1.0, a=50.0, b=60.0)
