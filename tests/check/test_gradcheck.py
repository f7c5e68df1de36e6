"""gradcheck: sampled entries, random directions, kinks, and the printed report."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import manual
from chainrule.check import gradcheck

NAMES = ("x", "w1", "b1", "w2", "b2")


def analytic(x, y, params) -> dict[str, np.ndarray]:
    grads = manual.backward(manual.forward(x, y, params)[1])
    return {name: grads[name] for name in NAMES}


def test_correct_gradients_pass_with_one_ok_row_per_name(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(10, 4, 5, 2)
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, analytic(x, y, params))
    assert report.ok
    assert [row.name for row in report.rows] == list(NAMES)
    assert report.failing == ()


def test_small_arrays_are_checked_entry_by_entry(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(10, 4, 5, 2)
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, analytic(x, y, params))
    assert report["w1"].checked == 20


def test_large_arrays_are_sampled_up_to_max_entries(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(50, 30, 5, 1)
    report = gradcheck(
        loss_of_arrays, {"x": x, "y": y, **params}, analytic(x, y, params), max_entries=25
    )
    assert report["x"].checked == 25
    assert report["x"].total == 1500


def test_random_direction_catches_an_error_the_sample_missed(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(20, 30, 8, 1)
    grads = analytic(x, y, params)
    grads["x"] = grads["x"].copy()
    grads["x"][7, 11] += 10 * np.abs(grads["x"]).max()
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, grads, max_entries=0)
    assert report.failing == ("x",)
    assert not report["x"].directions[0].ok


def test_the_loss_function_receives_float64_copies(make_network) -> None:
    x, y, params = make_network(4, 3, 2, 1, dtype=np.float32)
    seen: set[np.dtype] = set()

    def loss_fn(arrays) -> float:
        seen.update(value.dtype for value in arrays.values())
        return manual.forward(arrays["x"], arrays["y"], arrays)[0]

    report = gradcheck(loss_fn, {"x": x, "y": y, **params}, analytic(x, y, params))
    assert seen == {np.dtype(np.float64)}
    assert report.ok


def test_float32_gradients_pass_with_float32_tolerance(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(30, 6, 5, 1, dtype=np.float32)
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, analytic(x, y, params))
    assert report.ok, str(report)


def kinked_network() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """One example whose second hidden unit sits exactly at the ReLU kink: u1[0, 1] == 0."""
    x = np.array([[1.0, 2.0]])
    y = np.array([[-3.0]])
    params = {
        "w1": np.array([[0.5, 2.0, -0.3], [0.25, -1.0, 0.4]]),
        "b1": np.zeros(3),
        "w2": np.array([[1.0], [1.5], [0.7]]),
        "b2": np.array([0.2]),
    }
    return x, y, params


def test_entries_exactly_at_a_relu_kink_are_reported_as_kinks_not_failures(
    loss_of_arrays,
) -> None:
    x, y, params = kinked_network()
    assert manual.forward(x, y, params)[1]["u1"][0, 1] == 0.0
    grads = analytic(x, y, params)
    del grads["x"]
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, grads)
    assert report.ok, str(report)
    assert report["w1"].kinks == 2
    assert report["b1"].kinks == 1
    assert report["w1"].failures == 0


def test_a_row_whose_every_checked_entry_is_a_kink_is_not_ok(loss_of_arrays) -> None:
    x, y, params = kinked_network()
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, analytic(x, y, params))
    assert report["x"].status == "KINKS ONLY"
    assert report.failing == ("x",)


def test_a_wrong_gradient_on_a_smooth_stretch_is_a_failure_not_a_kink(
    make_network, loss_of_arrays
) -> None:
    x, y, params = make_network(6, 3, 4, 1)
    grads = analytic(x, y, params)
    grads["w2"] = grads["w2"] * 1.01
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, grads)
    assert report["w2"].status == "FAIL"
    assert report["w2"].kinks == 0


def test_wrong_shape_gradient_is_a_shape_mismatch_row(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(6, 3, 4, 1)
    grads = analytic(x, y, params)
    grads["b1"] = grads["b1"].reshape(1, -1)
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, grads)
    assert report["b1"].status == "SHAPE MISMATCH"
    assert report.failing == ("b1",)


def test_report_prints_a_table_with_a_header_and_one_line_per_name(
    make_network, loss_of_arrays
) -> None:
    x, y, params = make_network(6, 3, 4, 1)
    text = str(gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, analytic(x, y, params)))
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["name", "shape", "dtype", "status", "checked", "kinks"]
    assert [line.split()[0] for line in lines[1:]] == list(NAMES)
    assert lines[2].split()[:7] == ["w1", "(3,", "4)", "float64", "(rtol", "1e-05)", "ok"]
    assert lines[2].split()[7] == "12/12"


def test_gradient_without_a_matching_array_is_named(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(6, 3, 4, 1)
    with pytest.raises(ValueError, match=r"gradients for w3 but no arrays of those names"):
        gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, {"w3": np.zeros(2)})


@pytest.mark.slow
def test_tutorial_size_float32_gradients_check_by_sampling(loss_of_arrays) -> None:
    rng = np.random.default_rng(11)
    x = rng.random((50000, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=(50000, 1)).astype(np.float32)
    params = manual.init_params(784, 50, 1, rng=rng, dtype=np.float32)
    report = gradcheck(
        loss_of_arrays, {"x": x, "y": y, **params}, analytic(x, y, params), max_entries=1, rng=rng
    )
    assert report.ok, str(report)


@pytest.mark.parametrize("eps", [0.0, float("nan"), 1e-300])
def test_gradcheck_refuses_an_unusable_step_naming_the_array(
    make_network, loss_of_arrays, eps: float
) -> None:
    x, y, params = make_network(4, 3, 5, 2)
    _, cache = manual.forward(x, y, params)
    grads = manual.backward(cache)
    with pytest.raises(ValueError, match=r"gradcheck( of 'w1')?: eps"):
        gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, {"w1": grads["w1"]}, eps=eps)


def _small_terms(arrays) -> float:
    w = arrays["w"]
    return float((w**2).sum() + 3.0 * w.sum())


def _large_loss(arrays) -> float:
    """1e12 plus small terms: central differences with eps=1e-6 cannot resolve its gradient."""
    return 1e12 + _small_terms(arrays)


LARGE_W = np.array([0.5, -1.25, 2.0])
LARGE_GRAD = 2 * LARGE_W + 3.0


@pytest.mark.parametrize("factor", [1.0, 10.0, -100.0], ids=["right", "10x", "-100x"])
def test_gradients_of_a_loss_too_large_for_eps_are_unresolved_not_ok(factor: float) -> None:
    report = gradcheck(_large_loss, {"w": LARGE_W}, {"w": factor * LARGE_GRAD})
    row = report["w"]
    assert row.status == "UNRESOLVED"
    assert row.unresolved == 3
    assert not row.ok
    assert not report.ok
    assert report.failing == ("w",)


def test_the_report_says_why_a_gradient_is_unresolved() -> None:
    text = str(gradcheck(_large_loss, {"w": LARGE_W}, {"w": LARGE_GRAD}))
    assert "w: unresolved, loss too large for eps" in text
    assert "|f(x)| = 1e+12" in text


def test_the_same_gradients_resolve_without_the_large_constant() -> None:
    assert gradcheck(_small_terms, {"w": LARGE_W}, {"w": LARGE_GRAD}).ok
    report = gradcheck(_small_terms, {"w": LARGE_W}, {"w": 10 * LARGE_GRAD})
    assert report["w"].status == "FAIL"
    assert report["w"].unresolved == 0


def test_a_resolvable_error_in_a_noisy_check_is_still_a_failure() -> None:
    wrong = LARGE_GRAD + np.array([0.0, 0.0, 1e6])
    assert gradcheck(_large_loss, {"w": LARGE_W}, {"w": wrong})["w"].status == "FAIL"


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_a_non_finite_analytic_gradient_fails(bad: float) -> None:
    def loss(arrays) -> float:
        return float((arrays["w"] ** 2).sum())

    grad = 2 * LARGE_W
    grad[1] = bad
    row = gradcheck(loss, {"w": LARGE_W}, {"w": grad})["w"]
    assert row.status == "FAIL"
    assert row.failures == 1
    assert row.worst_index == (1,)


def test_a_non_finite_loss_at_the_point_is_refused() -> None:
    with pytest.raises(ValueError, match=r"gradcheck: the loss at the point is nan"):
        gradcheck(lambda arrays: float("nan"), {"w": LARGE_W}, {"w": LARGE_GRAD})


def test_the_table_marks_an_unresolved_direction() -> None:
    text = str(gradcheck(_large_loss, {"w": LARGE_W}, {"w": LARGE_GRAD}))
    assert "unresolved" in text.splitlines()[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eps": 0.0}, "gradcheck: eps, the finite-difference step"),
        ({"eps": float("nan")}, "gradcheck: eps, the finite-difference step"),
        ({"rtol": -1e-5}, "gradcheck: rtol must be a finite number >= 0"),
        ({"atol": float("inf")}, "gradcheck: atol must be a finite number"),
    ],
    ids=["eps-zero", "eps-nan", "rtol-negative", "atol-inf"],
)
def test_invalid_steps_and_tolerances_are_refused(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        gradcheck(_small_terms, {"w": LARGE_W}, {"w": LARGE_GRAD}, **options)


def test_a_factor_of_n_out_is_named_as_such_given_n_and_n_out(make_network, loss_of_arrays) -> None:
    # The tutorial's loss.g = 2 / N * diff, right only for one output: off by n_out = 3.
    x, y, params = make_network(6, 4, 5, 3)
    grads = {name: 3 * grad for name, grad in analytic(x, y, params).items()}
    report = gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, grads, n=6, n_out=3)
    diagnosis = report["w2"].diagnosis
    assert diagnosis is not None
    assert diagnosis.factor == pytest.approx(3.0, rel=1e-6)
    assert "(= n_out)" in str(diagnosis)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_a_non_finite_entry_outside_the_sampled_ones_fails_where_it_is(bad: float) -> None:
    # 1000 entries, 20 sampled: the infinity is found without a finite difference, and no
    # tolerance scaled by |grad| (infinite then) may excuse it along a direction.
    values = np.random.default_rng(5).standard_normal(1000)

    def loss(arrays) -> float:
        return float((arrays["w"] ** 3).sum())

    grad = 3 * values**2
    grad[7] = bad
    row = gradcheck(loss, {"w": values}, {"w": grad}, max_entries=20)["w"]
    assert row.status == "FAIL"
    assert row.worst_index == (7,)
    assert row.diagnosis is not None
    assert "inf or NaN" in str(row.diagnosis)


@pytest.mark.parametrize("wrong", [(7, 13), (39, 0), (0, 39), (21, 21)])
def test_a_wrong_entry_outside_the_sample_is_named_not_a_sampled_one_that_agrees(
    wrong: tuple[int, int],
) -> None:
    # 1600 entries, 200 sampled: only a random direction sees the one wrong entry. The row
    # must point at that entry (found by halving the direction), never at a checked entry
    # that agrees.
    rng = np.random.default_rng(2)
    x, w, t = (
        rng.standard_normal((6, 40)),
        rng.standard_normal((40, 40)),
        rng.standard_normal((6, 40)),
    )

    def loss(arrays) -> float:
        return float(np.mean((arrays["x"] @ arrays["w"] - t) ** 2))

    right = x.T @ (2 * (x @ w - t) / t.size)
    grad = right.copy()
    grad[wrong] += 0.5 * np.abs(right).max()
    row = gradcheck(loss, {"x": x, "w": w}, {"w": grad})["w"]
    assert row.status == "FAIL"
    assert row.worst_index == wrong
    assert row.failures >= 1
    assert row.max_abs_err == pytest.approx(0.5 * np.abs(right).max(), rel=1e-4)
    assert row.diagnosis is not None
    # Sampled, the entry is diagnosed with the others; outside the sample, named.
    assert "entries agree" not in str(row.diagnosis) or str(wrong) in str(row.diagnosis)


def _matmul_case() -> tuple[dict[str, np.ndarray], np.ndarray, object]:
    rng = np.random.default_rng(8)
    x, w, t = rng.standard_normal((6, 5)), rng.standard_normal((5, 5)), rng.standard_normal((6, 5))

    def loss(arrays) -> float:
        return float(np.mean((arrays["x"] @ arrays["w"] - t) ** 2))

    return {"x": x, "w": w}, x.T @ (2 * (x @ w - t) / t.size), loss


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_gradients_in_any_memory_layout_are_checked_by_value(layout: str) -> None:
    # Ported in spirit from PyTorch's gradcheck tests on non-contiguous inputs: the layout
    # of the analytic gradient must change nothing, right or wrong.
    arrays, right, loss = _matmul_case()

    def laid_out(values: np.ndarray) -> np.ndarray:
        if layout == "fortran":
            return np.asfortranarray(values)
        wide = np.zeros((values.shape[0], 2 * values.shape[1]))
        wide[:, ::2] = values
        return wide[:, ::2]

    assert gradcheck(loss, arrays, {"w": laid_out(right)}).ok
    wrong = right.copy()
    wrong[2, 3] *= 1.01
    row = gradcheck(loss, arrays, {"w": laid_out(wrong)})["w"]
    assert row.status == "FAIL"
    assert row.worst_index == (2, 3)
    assert row.failures == 1


def test_a_float32_gradient_wrong_by_one_percent_in_one_entry_fails_there() -> None:
    # float32 gets a looser rtol (1e-3) than float64, but not loose enough to pass a 1% error.
    arrays, right, loss = _matmul_case()
    assert gradcheck(loss, arrays, {"w": right.astype(np.float32)}).ok
    wrong = right.astype(np.float32)
    wrong[1, 1] *= np.float32(1.01)
    row = gradcheck(loss, arrays, {"w": wrong})["w"]
    assert row.status == "FAIL"
    assert row.worst_index == (1, 1)


def test_a_weight_used_twice_needs_the_gradient_of_both_uses() -> None:
    # loss = mean((x w w - t)^2): the gradient sums the two uses of w; one use alone fails.
    rng = np.random.default_rng(9)
    x, w, t = (
        rng.standard_normal((6, 5)),
        0.5 * rng.standard_normal((5, 5)),
        rng.standard_normal((6, 5)),
    )

    def loss(arrays) -> float:
        return float(np.mean((arrays["x"] @ arrays["w"] @ arrays["w"] - t) ** 2))

    residual = 2 * (x @ w @ w - t) / t.size
    second_use = (x @ w).T @ residual
    first_use = x.T @ (residual @ w.T)
    assert gradcheck(loss, {"x": x, "w": w}, {"w": first_use + second_use}).ok
    for one_use in (first_use, second_use):
        report = gradcheck(loss, {"x": x, "w": w}, {"w": one_use})
        assert report.failing == ("w",)


def test_a_loss_that_clips_its_input_in_place_is_refused_not_passed() -> None:
    # The clip moved the point itself onto the kinks at +-1 for every later evaluation, so
    # a gradient of 2 and -2 where the true one is 0 was excused as "kinks" and passed.
    w = np.array([0.3, -0.5, 2.0, 0.1, -3.0, 0.7])

    def loss(arrays) -> float:
        clipped = arrays["w"]
        np.clip(clipped, -1, 1, out=clipped)
        return float((clipped**2).sum())

    with pytest.raises(ValueError, match=r"gradcheck: loss_fn wrote into the array 'w'"):
        gradcheck(loss, {"w": w}, {"w": 2 * np.clip(w, -1, 1)})
    np.testing.assert_array_equal(w, [0.3, -0.5, 2.0, 0.1, -3.0, 0.7])


def test_an_in_place_update_of_an_array_not_being_checked_is_refused_too() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)

    def loss(arrays) -> float:
        arrays["x"] /= 2.0
        return float(((arrays["x"] @ arrays["w"]) ** 2).sum())

    with pytest.raises(ValueError, match=r"wrote into the array 'x'.*x = x / 2"):
        gradcheck(loss, {"x": x, "w": w}, {"w": np.zeros(3)})


def test_the_checked_arrays_are_writeable_again_after_the_check() -> None:
    # Read-only only while the loss runs: a report's caller may reuse nothing of ours, but
    # a loss that reads (not writes) works as before.
    x = np.arange(4.0)
    report = gradcheck(lambda arrays: float((arrays["x"] ** 2).sum()), {"x": x}, {"x": 2 * x})
    assert report.ok
    assert x.flags.writeable


def test_directions_0_on_a_sampled_array_is_partial_naming_the_unchecked_entries() -> None:
    # A wrong entry outside the sample: without a direction nothing could have seen it.
    rng = np.random.default_rng(3)
    x = rng.standard_normal(10_000)
    grad = 2 * x
    grad[-1] += 100.0
    report = gradcheck(
        lambda a: float(np.sum(a["x"] ** 2)),
        {"x": x},
        {"x": grad},
        max_entries=8,
        directions=0,
        rng=np.random.default_rng(0),
    )
    row = report["x"]
    assert row.checked == 8
    assert row.failures == 0
    assert row.status == "PARTIAL"
    assert not row.ok
    assert not report.ok
    assert report.failing == ("x",)
    assert row.reason is not None
    assert row.reason.startswith("checked 8 of 10000 entries; the rest unchecked: directions=0")
    assert f"x: {row.reason}" in str(report)
    # One direction covers every entry and finds the wrong one.
    covered = gradcheck(lambda a: float(np.sum(a["x"] ** 2)), {"x": x}, {"x": grad}, max_entries=8)
    assert covered["x"].status == "FAIL"


def test_directions_0_on_an_array_checked_whole_is_ok(make_network, loss_of_arrays) -> None:
    x, y, params = make_network(10, 4, 5, 2)
    arrays = {"x": x, "y": y, **params}
    report = gradcheck(loss_of_arrays, arrays, analytic(x, y, params), directions=0)
    assert report.ok


@pytest.mark.parametrize(
    ("keyword", "value"), [("directions", -1), ("directions", 1.5), ("max_entries", -1)]
)
def test_a_negative_or_fractional_count_is_refused_naming_it(keyword: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"gradcheck: {keyword} must be a whole number"):
        gradcheck(
            lambda a: float(np.sum(a["x"] ** 2)),
            {"x": np.ones(3)},
            {"x": 2 * np.ones(3)},
            **{keyword: value},  # type: ignore[arg-type]
        )


def test_a_constant_zero_loss_with_its_zero_gradient_is_checked_without_warnings() -> None:
    # every difference is exactly 0 and so is every tolerance: no 0 / 0 on the way (the
    # suite turns warnings into errors)
    report = gradcheck(lambda a: float(0 * a["x"].sum()), {"x": np.ones(2)}, {"x": np.zeros(2)})
    assert report["x"].status == "ok", report
