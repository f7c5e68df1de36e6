"""diagnose: each usual hand-derivation mistake named from the numbers, directly and in
gradcheck's report, on a bug zoo of broken backward passes of the tutorial network."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from chainrule import manual
from chainrule.check import Mistake, diagnose, diagnose_shapes, diagnose_swaps, gradcheck

N, N_HIDDEN = 12, 6


@pytest.fixture
def expected(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((N, N_HIDDEN))


def test_equal_arrays_agree(expected: np.ndarray) -> None:
    assert diagnose(expected.copy(), expected).kind is Mistake.AGREES


def test_factor_n_is_named_with_the_batch_size_hint(expected: np.ndarray) -> None:
    diagnosis = diagnose(1797 * expected, expected, n=1797)
    assert diagnosis.kind is Mistake.SCALED
    assert diagnosis.factor == pytest.approx(1797, rel=1e-12)
    assert str(diagnosis) == ("off by a factor of 1797 (= N): a sum where the loss takes a mean?")


def test_factor_one_over_n_is_a_mean_where_a_sum_was_wanted(expected: np.ndarray) -> None:
    diagnosis = diagnose(expected / 1797, expected, n=1797)
    assert diagnosis.kind is Mistake.SCALED
    assert str(diagnosis).startswith("off by a factor of 1/1797 (= 1/N): a mean where a sum")


def test_an_integer_factor_without_a_hint_is_named_as_a_possible_batch_size(
    expected: np.ndarray,
) -> None:
    diagnosis = diagnose(64 * expected, expected)
    assert diagnosis.kind is Mistake.SCALED
    assert "factor of 64 (an integer, like a batch size N)" in str(diagnosis)


def test_factor_one_half_is_the_missing_2_of_the_square(expected: np.ndarray) -> None:
    diagnosis = diagnose(0.5 * expected, expected)
    assert diagnosis.kind is Mistake.SCALED
    assert diagnosis.factor == pytest.approx(0.5, rel=1e-12)
    assert "the 2 from d(u**2)/du = 2u missing?" in str(diagnosis)


def test_factor_two_is_a_2_too_many(expected: np.ndarray) -> None:
    assert "a 2 too many" in str(diagnose(2 * expected, expected))


def test_an_unnamed_factor_is_given_as_a_number(expected: np.ndarray) -> None:
    diagnosis = diagnose(1.37 * expected, expected)
    assert diagnosis.kind is Mistake.SCALED
    assert str(diagnosis) == "off by a factor of 1.37: got = 1.37 * expected"


def test_a_factor_survives_finite_difference_noise(
    expected: np.ndarray, rng: np.random.Generator
) -> None:
    noisy = expected + 1e-9 * rng.standard_normal(expected.shape)
    assert diagnose(3 * expected, noisy).kind is Mistake.SCALED


def test_factor_minus_one_is_a_flipped_sign(expected: np.ndarray) -> None:
    diagnosis = diagnose(-expected, expected)
    assert diagnosis.kind is Mistake.SIGN_FLIPPED
    assert diagnosis.factor == -1.0
    assert "did" not in str(diagnosis)
    assert "du4/du3 = -1" in str(diagnosis)


def test_a_negative_factor_says_both_sign_and_size(expected: np.ndarray) -> None:
    diagnosis = diagnose(-N * expected, expected, n=N)
    assert diagnosis.kind is Mistake.SCALED
    assert str(diagnosis).startswith("sign flipped and off by a factor of 12 (= N)")


def test_a_square_transpose_is_recognised(rng: np.random.Generator) -> None:
    expected = rng.standard_normal((5, 5))
    assert diagnose(expected.T, expected).kind is Mistake.TRANSPOSED


def test_a_rectangular_transpose_is_recognised_by_its_values(expected: np.ndarray) -> None:
    diagnosis = diagnose(expected.T.copy(), expected)
    assert diagnosis.kind is Mistake.TRANSPOSED
    assert "equals expected.T" in str(diagnosis)


def test_reversed_shapes_with_other_values_are_only_a_shape_difference(
    expected: np.ndarray,
) -> None:
    assert diagnose(expected.T + 1.0, expected).kind is Mistake.SHAPE


def test_right_values_with_a_kept_dimension_say_reshape(expected: np.ndarray) -> None:
    bias_grad = expected.sum(axis=0)
    diagnosis = diagnose(expected.sum(axis=0, keepdims=True), bias_grad)
    assert diagnosis.kind is Mistake.SHAPE
    assert "got (1, 6), expected (6,)" in str(diagnosis)
    assert "values are right" in str(diagnosis)


def test_a_bias_gradient_summed_over_the_features_is_summed_over_the_wrong_axis(
    expected: np.ndarray,
) -> None:
    diagnosis = diagnose(expected.sum(axis=1), expected.sum(axis=0))
    assert diagnosis.kind is Mistake.WRONG_AXIS
    assert str(diagnosis).startswith(
        "summed over axis 1 instead of axis 0: got (12,) and expected (6,)"
    )
    assert diagnosis.details["full_shape"] == (N, N_HIDDEN)


def test_a_gradient_never_summed_names_the_axis_to_sum(expected: np.ndarray) -> None:
    diagnosis = diagnose(expected, expected.sum(axis=0))
    assert diagnosis.kind is Mistake.WRONG_AXIS
    assert diagnosis.details["axis"] == 0


@pytest.mark.parametrize("keepdims", [False, True])
def test_a_sum_where_none_belongs_says_to_leave_it_out(
    expected: np.ndarray, keepdims: bool
) -> None:
    """dloss/dx summed over the samples (the tutorial's answer for x_i): the advice is to
    leave that sum out, not to sum over the batch axis."""
    diagnosis = diagnose(expected.sum(axis=0, keepdims=keepdims), expected)
    assert diagnosis.kind is Mistake.WRONG_AXIS
    assert diagnosis.details["axis"] == 0
    message = str(diagnosis)
    assert "no sum belongs" in message, message
    assert "sum over the batch axis only" not in message


def test_unrelated_shapes_name_both_shapes(rng: np.random.Generator) -> None:
    diagnosis = diagnose(rng.standard_normal((3, 4)), rng.standard_normal(5))
    assert diagnosis.kind is Mistake.SHAPE
    assert str(diagnosis).startswith("shape differs: got (3, 4), expected (5,)")


def test_entries_zeroed_where_the_gradient_should_flow(expected: np.ndarray) -> None:
    got = expected.copy()
    got[::3] = 0.0
    diagnosis = diagnose(got, expected)
    assert diagnosis.kind is Mistake.ZEROED
    assert diagnosis.details["zeroed"] == 4 * N_HIDDEN
    assert "gradient zeroed where it should flow" in str(diagnosis)
    assert "ReLU mask from the wrong tensor?" in str(diagnosis)


def test_entries_nonzero_where_expected_is_zero(expected: np.ndarray) -> None:
    masked = expected * (expected > 0)
    diagnosis = diagnose(expected, masked)
    assert diagnosis.kind is Mistake.ZEROED
    assert diagnosis.details["leaked"] == int((expected <= 0).sum())
    assert "nonzero where it should be 0" in str(diagnosis)


def test_a_gradient_zero_everywhere_says_nothing_flowed(expected: np.ndarray) -> None:
    diagnosis = diagnose(np.zeros_like(expected), expected)
    assert diagnosis.kind is Mistake.ZEROED
    assert "0 everywhere" in str(diagnosis)


def test_anything_else_is_no_simple_pattern_with_the_error_size(
    expected: np.ndarray, rng: np.random.Generator
) -> None:
    diagnosis = diagnose(expected + rng.standard_normal(expected.shape), expected)
    assert diagnosis.kind is Mistake.UNKNOWN
    assert "relative error" in str(diagnosis)


def test_nan_is_no_simple_pattern_and_says_so(expected: np.ndarray) -> None:
    got = expected.copy()
    got[0, 0] = np.nan
    assert "NaN" in str(diagnose(got, expected))


def test_shapes_alone_suggest_a_transpose_or_a_wrong_axis() -> None:
    assert diagnose_shapes((50, 64), (64, 50)).kind is Mistake.TRANSPOSED
    assert diagnose_shapes((1797,), (50,), n=1797).kind is Mistake.WRONG_AXIS
    assert diagnose_shapes((3,), (50,)).kind is Mistake.SHAPE


# The bug zoo: the tutorial network's backward pass with one classic mistake each.

Grads = dict[str, np.ndarray]


def backward(
    cache: Mapping[str, np.ndarray],
    *,
    scale: float | None = None,
    two: float = 2.0,
    sign: float = -1.0,
    mask_from: str = "u1",
    w1_transposed: bool = False,
    b1_axis: int = 0,
) -> Grads:
    """dloss/d(x, w1, b1, w2, b2, u1) with knobs for the mistakes; defaults are correct."""
    grad_u5 = 1.0 / cache["u5"].size if scale is None else scale
    grad_u3 = sign * grad_u5 * two * cache["u4"]
    grad_u1 = grad_u3 @ cache["w2"].T * (cache[mask_from] > 0)
    grad_w1 = grad_u1.T @ cache["x"] if w1_transposed else cache["x"].T @ grad_u1
    return {
        "x": grad_u1 @ cache["w1"].T,
        "w1": grad_w1,
        "b1": grad_u1.sum(axis=b1_axis),
        "w2": cache["u2"].T @ grad_u3,
        "b2": grad_u3.sum(axis=0),
        "u1": grad_u1,
    }


ZOO = {
    "missing 1/N": ({"scale": 1.0}, ("x", "w1", "b1", "w2", "b2"), Mistake.SCALED),
    "missing 2": ({"two": 1.0}, ("x", "w1", "b1", "w2", "b2"), Mistake.SCALED),
    "u4 sign flipped": ({"sign": 1.0}, ("x", "w1", "b1", "w2", "b2"), Mistake.SIGN_FLIPPED),
    "w1 missing transpose": ({"w1_transposed": True}, ("w1",), Mistake.TRANSPOSED),
    "b1 summed over axis 1": ({"b1_axis": 1}, ("b1",), Mistake.WRONG_AXIS),
    "ReLU mask from u3": ({"mask_from": "u3"}, ("u1",), Mistake.ZEROED),
    "ReLU mask from x": ({"mask_from": "x"}, ("u1",), Mistake.ZEROED),
}


def loss_of_u1(arrays: Mapping[str, np.ndarray]) -> float:
    """The tutorial loss from the hidden layer's input u1 on: mean((y - relu(u1) @ w2 - b2)^2)."""
    u3 = np.maximum(arrays["u1"], 0) @ arrays["w2"] + arrays["b2"]
    return float(((arrays["y"] - u3) ** 2).mean())


def zoo_report(
    bug: Mapping[str, object],
    names: tuple[str, ...],
    x: np.ndarray,
    y: np.ndarray,
    params: dict[str, np.ndarray],
):
    cache = manual.forward(x, y, params)[1]
    grads = backward(cache, **bug)
    if names == ("u1",):
        return gradcheck(
            loss_of_u1,
            {"u1": cache["u1"], "y": y, "w2": params["w2"], "b2": params["b2"]},
            {"u1": grads["u1"]},
        )
    return gradcheck(
        lambda arrays: manual.forward(arrays["x"], arrays["y"], arrays)[0],
        {"x": x, "y": y, **params},
        {name: grads[name] for name in names},
        n=len(x),
    )


SHAPES = {"square": (N, N_HIDDEN, N_HIDDEN), "wide": (N, 4, N_HIDDEN)}
"""(N, n_in, n_hidden): "square" has w1 (6, 6), so a missing transpose keeps the shape."""

CASES = [
    (mistake, shape)
    for mistake in ZOO
    for shape in SHAPES
    if not (mistake == "ReLU mask from x" and shape == "wide")
]
"""Every mistake on both networks, but a mask from x needs x as wide as u1."""


def zoo_network(make_network, shape: str):
    """The tutorial network with x centred so that a mask from x differs from one from u1."""
    n_examples, n_in, n_hidden = SHAPES[shape]
    x, y, params = make_network(n_examples, n_in, n_hidden, 1)
    x -= 0.5
    return x, y, params


@pytest.mark.parametrize(("mistake", "shape"), CASES)
def test_each_zoo_mistake_is_diagnosed_by_name_directly(
    make_network, mistake: str, shape: str
) -> None:
    bug, names, kind = ZOO[mistake]
    x, y, params = zoo_network(make_network, shape)
    cache = manual.forward(x, y, params)[1]
    got, expected = backward(cache, **bug), backward(cache)
    for name in names:
        assert diagnose(got[name], expected[name], n=len(x)).kind is kind, name


@pytest.mark.parametrize(("mistake", "shape"), CASES)
def test_each_zoo_mistake_is_diagnosed_by_name_in_the_gradcheck_report(
    make_network, mistake: str, shape: str
) -> None:
    bug, names, kind = ZOO[mistake]
    report = zoo_report(bug, names, *zoo_network(make_network, shape))
    assert report.failing == names, str(report)
    for name in names:
        diagnosis = report[name].diagnosis
        assert diagnosis is not None
        assert diagnosis.kind is kind, str(report)
        assert f"diagnosis of {name}: {diagnosis}" in str(report)


def network_loss_fn(arrays: Mapping[str, np.ndarray]) -> float:
    return manual.forward(arrays["x"], arrays["y"], arrays)[0]


def test_passing_rows_carry_no_diagnosis(make_network) -> None:
    x, y, params = make_network(N, 4, N_HIDDEN, 1)
    grads = backward(manual.forward(x, y, params)[1])
    report = gradcheck(network_loss_fn, {"x": x, "y": y, **params}, {"w1": grads["w1"]})
    assert report["w1"].diagnosis is None
    assert "diagnosis" not in str(report)


def test_a_sampled_array_is_diagnosed_from_its_samples(make_network) -> None:
    x, y, params = make_network(40, 30, N_HIDDEN, 1)
    grads = backward(manual.forward(x, y, params)[1], scale=1.0)
    report = gradcheck(
        network_loss_fn, {"x": x, "y": y, **params}, {"x": grads["x"]}, max_entries=25, n=40
    )
    diagnosis = report["x"].diagnosis
    assert diagnosis is not None
    assert diagnosis.kind is Mistake.SCALED
    assert diagnosis.details["sampled"] == 25
    assert str(diagnosis).endswith("(from 25 sampled entries of 1200)")


def test_an_error_only_a_direction_sees_says_the_samples_agree(make_network) -> None:
    x, y, params = make_network(20, 30, 8, 1)
    grads = backward(manual.forward(x, y, params)[1])
    grads["x"][7, 11] += 10 * np.abs(grads["x"]).max()
    report = gradcheck(
        network_loss_fn, {"x": x, "y": y, **params}, {"x": grads["x"]}, max_entries=5
    )
    diagnosis = report["x"].diagnosis
    assert diagnosis is not None
    assert diagnosis.kind is Mistake.UNKNOWN
    assert "entries not sampled" in str(diagnosis)


def test_a_large_shape_mismatch_is_diagnosed_from_the_shapes(make_network) -> None:
    x, y, params = make_network(N, 40, N_HIDDEN, 1)
    grads = backward(manual.forward(x, y, params)[1], w1_transposed=True)
    report = gradcheck(
        network_loss_fn, {"x": x, "y": y, **params}, {"w1": grads["w1"]}, max_entries=20
    )
    diagnosis = report["w1"].diagnosis
    assert diagnosis is not None
    assert diagnosis.kind is Mistake.TRANSPOSED
    assert "values not compared" in str(diagnosis)


def test_factor_n_out_is_named_as_the_mean_over_rows_only(expected: np.ndarray) -> None:
    diagnosis = diagnose(3 * expected, expected, n=N, n_out=3)
    assert diagnosis.kind is Mistake.SCALED
    assert str(diagnosis) == (
        "off by a factor of 3 (= n_out): 2 / N where the loss averages "
        "all N * n_out entries, so 2 / (N * n_out)?"
    )


def test_factor_n_times_n_out_is_a_sum_where_the_loss_takes_a_mean(
    expected: np.ndarray,
) -> None:
    diagnosis = diagnose(N * 3 * expected, expected, n=N, n_out=3)
    assert diagnosis.kind is Mistake.SCALED
    assert str(diagnosis).startswith(f"off by a factor of {N * 3} (= N * n_out): a sum where")


def test_factor_one_over_n_out_is_named(expected: np.ndarray) -> None:
    diagnosis = diagnose(expected / 3, expected, n=N, n_out=3)
    assert str(diagnosis).startswith("off by a factor of 1/3 (= 1/n_out)")


def test_n_out_of_one_leaves_the_naming_of_n_alone(expected: np.ndarray) -> None:
    diagnosis = diagnose(N * expected, expected, n=N, n_out=1)
    assert str(diagnosis).startswith(f"off by a factor of {N} (= N)")


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -1.0])
@pytest.mark.parametrize("which", ["rtol", "atol"])
def test_diagnose_refuses_a_non_finite_or_negative_tolerance(which: str, bad: float) -> None:
    with pytest.raises(ValueError, match=f"diagnose: {which} must be a finite number >= 0"):
        diagnose(np.array([2.0]), np.array([1.0]), **{which: bad})


def test_an_error_in_one_batch_row_is_named_with_the_row(expected: np.ndarray) -> None:
    got = expected.copy()
    got[7] += 0.5 * np.abs(expected).max()
    diagnosis = diagnose(got, expected)
    assert diagnosis.kind is Mistake.ONE_ROW
    assert diagnosis.details == {"row": 7, "entries": N_HIDDEN, "rows": N}
    assert str(diagnosis).startswith(
        f"wrong in row 7 only (axis 0, of {N}): {N_HIDDEN} of {N_HIDDEN} entries there disagree"
    )


@pytest.mark.parametrize(("row", "loop"), [(0, "range(1, N)"), (N - 1, "range(N - 1)")])
def test_a_row_left_at_zero_by_an_off_by_one_loop_is_one_row_not_a_mask(
    expected: np.ndarray, row: int, loop: str
) -> None:
    got = expected.copy()
    got[row] = 0.0
    diagnosis = diagnose(got, expected)
    assert diagnosis.kind is Mistake.ONE_ROW, str(diagnosis)
    assert diagnosis.details == {"row": row, "entries": N_HIDDEN, "rows": N}
    assert str(diagnosis).startswith(f"wrong in row {row} only (axis 0, of {N})")
    assert f"got is 0 throughout that row: a loop that never reaches it, like for i in {loop}?" in (
        str(diagnosis)
    )
    assert "ReLU" not in str(diagnosis)


def test_a_middle_row_left_at_zero_names_no_loop_bound(expected: np.ndarray) -> None:
    got = expected.copy()
    got[5] = 0.0
    diagnosis = diagnose(got, expected)
    assert diagnosis.kind is Mistake.ONE_ROW
    assert "got is 0 throughout that row: a loop that never reaches it? (a mask" in str(diagnosis)


def test_some_entries_of_one_row_zeroed_name_the_row_and_the_mask_alike(
    expected: np.ndarray,
) -> None:
    got = expected.copy()
    got[3, :2] = 0.0
    diagnosis = diagnose(got, expected)
    assert diagnosis.kind is Mistake.ONE_ROW
    assert diagnosis.details == {"row": 3, "entries": 2, "rows": N}
    assert "(the wrong entries are 0 in got: a mask zeroing them fits too)" in str(diagnosis)


def test_entries_zeroed_in_many_rows_stay_a_mask(expected: np.ndarray) -> None:
    got = expected * (np.arange(N_HIDDEN) % 2 == 0)
    diagnosis = diagnose(got, expected)
    assert diagnosis.kind is Mistake.ZEROED
    assert "ReLU mask from the wrong tensor?" in str(diagnosis)


@pytest.mark.parametrize("rows", [2, 12])
def test_errors_in_two_rows_or_an_array_of_two_rows_name_no_row(
    expected: np.ndarray, rows: int
) -> None:
    got = expected[:rows].copy()
    got[0] += 1.0
    if rows > 2:
        got[5] += 1.0
    assert diagnose(got, expected[:rows]).kind is Mistake.UNKNOWN


def test_a_one_dimensional_error_in_one_entry_names_no_row(expected: np.ndarray) -> None:
    got = expected[0].copy()
    got[2] += 1.0
    assert diagnose(got, expected[0]).kind is Mistake.UNKNOWN


def test_gradients_swapped_between_two_names_are_named_as_a_pair(
    rng: np.random.Generator,
) -> None:
    w1, w2, b = (rng.standard_normal(shape) for shape in [(4, 4), (4, 4), (4,)])
    swaps = diagnose_swaps({"w1": w2, "w2": w1, "b": b}, {"w1": w1, "w2": w2, "b": b})
    assert sorted(swaps) == ["w1", "w2"]
    assert swaps["w1"].kind is Mistake.SWAPPED
    assert str(swaps["w1"]).startswith(
        "swapped with w2: got w1 equals expected w2 and got w2 equals expected w1"
    )
    assert swaps["w2"].details == {"with": "w1"}


def test_one_wrong_gradient_that_equals_anothers_is_no_swap(rng: np.random.Generator) -> None:
    # w1 got w2's gradient, but w2 is right: a copy, not a swap.
    w1, w2 = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    assert diagnose_swaps({"w1": w2, "w2": w2}, {"w1": w1, "w2": w2}) == {}


def test_gradcheck_names_a_swapped_pair_and_a_wrong_batch_row(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(6, 4, 4, 4)
    cache = manual.forward(x, y, params)[1]
    grads = manual.backward(cache)
    broken = {name: grads[name].copy() for name in ("x", "w1", "b1", "w2", "b2")}
    broken["w1"], broken["w2"] = grads["w2"], grads["w1"]
    broken["x"][4] *= 3.0
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, broken)
    assert report.failing == ("x", "w1", "w2"), str(report)
    assert report["w1"].diagnosis is not None
    assert report["w1"].diagnosis.kind is Mistake.SWAPPED
    assert report["w2"].diagnosis is not None
    assert report["w2"].diagnosis.details == {"with": "w1"}
    assert report["x"].diagnosis is not None
    assert report["x"].diagnosis.kind is Mistake.ONE_ROW
    assert report["x"].diagnosis.details["row"] == 4
    assert "diagnosis of w1: swapped with w2" in str(report)


def test_gradients_of_two_shapes_swapped_are_a_pair_not_a_reshape(
    rng: np.random.Generator,
) -> None:
    # b1 (50,) and w2 (50, 1) returned under each other's names: each got has the other's
    # shape, and reshaping it, as a shape diagnosis would suggest, leaves a wrong gradient
    b1, w2 = rng.standard_normal(50), rng.standard_normal((50, 1))
    swaps = diagnose_swaps({"b1": w2, "w2": b1}, {"b1": b1, "w2": w2})
    assert sorted(swaps) == ["b1", "w2"]
    assert swaps["b1"].kind is Mistake.SWAPPED
    assert swaps["w2"].details == {"with": "b1"}


def test_a_gradient_of_anothers_shape_alone_is_no_swap(rng: np.random.Generator) -> None:
    b1, w2 = rng.standard_normal(50), rng.standard_normal((50, 1))
    assert diagnose_swaps({"b1": w2, "w2": w2}, {"b1": b1, "w2": w2}) == {}
    assert diagnose_swaps({"b1": w2, "w2": -b1}, {"b1": b1, "w2": w2}) == {}


def test_gradcheck_names_a_swapped_pair_of_two_shapes(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(6, 4, 5, 1)
    grads = manual.backward(manual.forward(x, y, params)[1])
    swapped = {**grads, "b1": grads["w2"], "w2": grads["b1"]}
    swapped = {name: swapped[name] for name in ("x", "w1", "b1", "w2", "b2")}
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, swapped)
    assert report.failing == ("b1", "w2"), str(report)
    assert report["b1"].diagnosis is not None
    assert report["b1"].diagnosis.kind is Mistake.SWAPPED
    assert "diagnosis of w2: swapped with b1" in str(report)
