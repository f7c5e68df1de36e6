"""Linear: shapes, PyTorch's default init bounds, the forward formula, input errors."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn


def test_weight_is_stored_in_by_out_and_bias_out() -> None:
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (5, 3)
    assert layer.bias is not None
    assert layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32


def test_init_is_uniform_within_one_over_sqrt_in_features() -> None:
    layer = nn.Linear(100, 400, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(100)
    assert layer.bias is not None
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound
    # U(-b, b) has variance b**2 / 3.
    assert abs(layer.weight.data.var() - bound**2 / 3) < 0.05 * bound**2 / 3


def test_same_rng_seed_gives_the_same_weights() -> None:
    first = nn.Linear(4, 2, rng=np.random.default_rng(3))
    second = nn.Linear(4, 2, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(first.weight.data, second.weight.data)


def test_reset_parameters_redraws() -> None:
    layer = nn.Linear(4, 2, rng=np.random.default_rng(3))
    before = layer.weight.data.copy()
    layer.reset_parameters()
    assert not np.array_equal(layer.weight.data, before)


def test_forward_is_x_at_weight_plus_bias() -> None:
    layer = nn.Linear(4, 2, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((3, 4))
    assert layer.bias is not None
    expected = x @ layer.weight.data + layer.bias.data
    got = layer(x).numpy()
    assert got.shape == expected.shape == (3, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_without_bias_there_is_one_parameter() -> None:
    layer = nn.Linear(4, 2, bias=False)
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_gradients_reach_weight_and_bias() -> None:
    layer = nn.Linear(4, 2, dtype=np.float64)
    x = np.ones((3, 4))
    layer(x).sum().backward()
    assert layer.weight.grad is not None
    assert layer.bias is not None
    assert layer.bias.grad is not None
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.full((4, 2), 3.0))
    np.testing.assert_array_equal(layer.bias.grad.numpy(), np.full((2,), 3.0))


def test_wrong_input_width_names_layer_shapes_and_fix() -> None:
    layer = nn.Linear(64, 32)
    with pytest.raises(
        ValueError,
        match=r"Linear\(in_features=64, out_features=32\): input has "
        r"shape \(8, 63\).*in_features=64.*reshape",
    ):
        layer(np.zeros((8, 63), dtype=np.float32))


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_sizes_must_be_positive_integers(size: object) -> None:
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(size, 2)


def test_integer_dtype_is_rejected() -> None:
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        nn.Linear(2, 2, dtype=np.int64)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("bias", (1, 8)),
        ("bias", (4, 8)),
        ("bias", (9,)),
        ("bias", ()),
        ("weight", (5, 8)),
        ("weight", (3, 1, 8)),
        ("weight", (8,)),
    ],
)
def test_a_parameter_whose_data_took_another_shape_is_refused_by_name_not_deep_in_numpy(
    name: str, shape: tuple[int, ...]
) -> None:
    """p.data = array of another shape passes the layer's own checks (made at construction):
    a (1, 8) bias broadcast in the forward and then broke the backward with NumPy's reshape
    error; a (4, 8) one would have had its gradient summed to the wrong shape."""
    layer = nn.Linear(3, 8, rng=np.random.default_rng(0), dtype=np.float64)
    getattr(layer, name).data = np.zeros(shape)
    with pytest.raises(ValueError, match=r"linear: input \(4, 3\) @ weight .*\.data was replaced"):
        layer(np.ones((4, 3))).sum().backward()


def test_a_one_input_layer_whose_weight_took_another_shape_is_refused_not_multiplied() -> None:
    """(N, 1) @ (1, out) is computed as the outer product x * w: a weight replaced by a (4, 8)
    array broadcast with a (4, 1) input to an element-wise product without a word."""
    layer = nn.Linear(1, 8, rng=np.random.default_rng(0), dtype=np.float64)
    layer.weight.data = np.ones((4, 8))
    with pytest.raises(ValueError, match=r"linear: input \(4, 1\) @ weight \(4, 8\)"):
        layer(np.ones((4, 1)))
