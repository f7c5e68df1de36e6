"""Every bad input to the tutorial network fails early with a message that names the fix."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import manual


def test_flat_targets_are_rejected_with_the_broadcasting_trap_and_reshape_fix(
    make_network,
) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    with pytest.raises(
        ValueError, match=r"y has shape \(5,\).*\(5, 5\) silently.*reshape\(-1, 1\)"
    ):
        manual.forward(x, y.ravel(), params)


@pytest.mark.parametrize(
    ("n_examples", "n_out", "message"),
    [
        # N = 1: (1,) - (1, 1) broadcasts to (1, 1), the right loss, so no trap is claimed.
        (
            1,
            1,
            r"y has shape \(1,\) but the network outputs shape \(1, 1\); targets must "
            r"have the output's shape exactly; pass y.reshape\(-1, 1\)$",
        ),
        # N != n_out > 1: NumPy would raise, not broadcast.
        (
            4,
            3,
            r"y has shape \(4,\), one target per example, but the network outputs shape "
            r"\(4, 3\), 3 per example; pass targets of shape \(4, 3\) \(one-hot encode",
        ),
        # N == n_out: y lines up with the outputs, a silent wrong loss.
        (
            3,
            3,
            r"outputs shape \(3, 3\), 3 per example; y - u3 would broadcast y along the "
            r"outputs to \(3, 3\) silently and give a wrong loss; pass targets of shape \(3, 3\)",
        ),
    ],
)
def test_flat_targets_message_describes_what_numpy_would_do(
    make_network, n_examples: int, n_out: int, message: str
) -> None:
    x, y, params = make_network(n_examples, 2, 3, n_out)
    with pytest.raises(ValueError, match=message):
        manual.forward(x, y[:, 0], params)
    with pytest.raises(ValueError, match=message):
        manual.closed_form_grads(x, y[:, 0], params)


def test_targets_with_the_wrong_number_of_columns_are_rejected(make_network) -> None:
    x, _, params = make_network(5, 3, 4, 2)
    with pytest.raises(ValueError, match=r"y has shape \(5, 3\), expected \(N, n_out\) = \(5, 2\)"):
        manual.forward(x, np.zeros((5, 3)), params)


def test_w1_not_matching_x_columns_is_rejected_with_both_shapes(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    params["w1"] = np.zeros((4, 4))
    with pytest.raises(
        ValueError,
        match=r"w1 has shape \(4, 4\), expected \(n_in, n_hidden\) = "
        r"\(3, n_hidden\)",
    ):
        manual.forward(x, y, params)


def test_w2_not_matching_the_hidden_width_is_rejected(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    params["w2"] = np.zeros((5, 1))
    with pytest.raises(ValueError, match=r"w2 has shape \(5, 1\), expected .* \(4, n_out\)"):
        manual.forward(x, y, params)


@pytest.mark.parametrize(
    ("name", "shape", "expected"), [("b1", (1, 4), r"\(4,\)"), ("b2", (2,), r"\(1,\)")]
)
def test_bias_of_the_wrong_shape_is_rejected(
    make_network, name: str, shape: tuple[int, ...], expected: str
) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    params[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=rf"{name} has shape .*, expected {expected}"):
        manual.forward(x, y, params)


def test_missing_parameter_is_named(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    del params["b2"]
    with pytest.raises(ValueError, match=r"params is missing b2.*init_params"):
        manual.forward(x, y, params)


def test_zero_examples_are_rejected(make_network) -> None:
    _, _, params = make_network(5, 3, 4, 1)
    with pytest.raises(ValueError, match=r"x has shape \(0, 3\): N = 0 examples"):
        manual.forward(np.zeros((0, 3)), np.zeros((0, 1)), params)


def test_one_dimensional_x_is_rejected_with_the_reshape_fix(make_network) -> None:
    _, _, params = make_network(5, 3, 4, 1)
    with pytest.raises(ValueError, match=r"x must be 2-D .* got shape \(3,\).*reshape\(1, -1\)"):
        manual.forward(np.zeros(3), np.zeros((1, 1)), params)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x_is_rejected_with_the_first_bad_index(make_network, bad: float) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    x[2, 1] = bad
    x[4, 0] = bad
    with pytest.raises(ValueError, match=rf"x contains {bad} at index \(2, 1\)"):
        manual.forward(x, y, params)


def test_nan_in_y_is_rejected_with_its_index(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    y[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"y contains nan at index \(3, 0\)"):
        manual.forward(x, y, params)


def test_nan_in_a_parameter_is_rejected_with_its_name_and_index(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    params["w2"][1, 0] = np.inf
    with pytest.raises(ValueError, match=r"w2 contains inf at index \(1, 0\)"):
        manual.forward(x, y, params)


@pytest.mark.parametrize(
    "values",
    [np.array([["a", "b", "c"]]), np.ones((1, 3), dtype=complex)],
    ids=["strings", "complex"],
)
def test_non_numeric_x_is_a_type_error_naming_the_dtype(make_network, values: np.ndarray) -> None:
    _, _, params = make_network(1, 3, 4, 1)
    with pytest.raises(TypeError, match=rf"x has dtype {values.dtype}.*float32 or float64"):
        manual.forward(values, np.zeros((1, 1)), params)


def test_non_numeric_parameter_is_a_type_error(make_network) -> None:
    x, y, params = make_network(2, 3, 4, 1)
    params["b1"] = np.array([None] * 4)
    with pytest.raises(TypeError, match=r"b1 has dtype object"):
        manual.forward(x, y, params)


def test_closed_form_validates_its_inputs_too(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 1)
    with pytest.raises(ValueError, match=r"y has shape \(5,\)"):
        manual.closed_form_grads(x, y.ravel(), params)
