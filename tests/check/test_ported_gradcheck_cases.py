"""Cases of PyTorch's test_autograd gradcheck tests and HIPS autograd's check_grads tests,
restated for gradcheck (the facts they check, not their code): a doubled backward fails, an
input an output ignores has gradient 0, |x| at 0 with the convention 0 passes, products of
several inputs pass and their transposes fail, an input used twice needs both terms."""

from __future__ import annotations

import numpy as np

from chainrule.check import Mistake, gradcheck

RNG = np.random.default_rng(11)
A = RNG.standard_normal((3, 3))
B = RNG.standard_normal((3, 3))


def test_a_backward_that_doubles_the_gradient_fails_as_a_factor_of_two() -> None:
    # torch: identity with a backward returning 2 * grad fails "Jacobian mismatch"
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["x"] * A).sum())

    row = gradcheck(loss, {"x": B}, {"x": 2 * A})["x"]
    assert row.status == "FAIL"
    assert row.diagnosis is not None
    assert row.diagnosis.kind is Mistake.SCALED
    assert row.diagnosis.factor is not None
    assert abs(row.diagnosis.factor - 2.0) < 1e-6


def test_an_input_the_loss_ignores_has_gradient_zero() -> None:
    # torch: outputs that do not depend on an input give it a zero gradient
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["a"] ** 2).sum())

    arrays = {"a": A, "b": B}
    assert gradcheck(loss, arrays, {"a": 2 * A, "b": np.zeros((3, 3))}, atol=1e-6).ok
    wrong = gradcheck(loss, arrays, {"a": 2 * A, "b": 1e-3 * np.ones((3, 3))}, atol=1e-6)
    assert wrong.failing == ("b",)
    assert wrong["b"].status == "FAIL"


def test_abs_away_from_zero_and_at_zero_with_the_convention_zero() -> None:
    # HIPS: 3 * abs(x) checked at 1.1, -1.2 and 0 (its gradient at 0 taken as 0)
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float(3.0 * np.abs(arrays["x"]).sum())

    point = np.array([1.1, -1.2, 0.0])
    report = gradcheck(loss, {"x": point}, {"x": np.array([3.0, -3.0, 0.0])})
    assert report.ok, str(report)
    assert report["x"].kinks == 0  # symmetric differences at 0 give exactly 0


def test_a_matrix_product_of_two_inputs_and_its_transposed_gradient() -> None:
    # HIPS: np.dot checked in each argument; a square gradient transposed must fail
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float(np.sin(arrays["a"] @ arrays["b"]).sum())

    upstream = np.cos(A @ B)
    right = {"a": upstream @ B.T, "b": A.T @ upstream}
    assert gradcheck(loss, {"a": A, "b": B}, right).ok
    transposed = gradcheck(loss, {"a": A, "b": B}, {"a": right["a"].T, "b": right["b"]})
    assert transposed.failing == ("a",)
    diagnosis = transposed["a"].diagnosis
    assert diagnosis is not None
    assert diagnosis.kind is Mistake.TRANSPOSED


def test_an_input_used_twice_needs_both_terms() -> None:
    # x * x: the product rule's two terms, 2x; one term alone is half of it
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["x"] * arrays["x"]).sum())

    assert gradcheck(loss, {"x": A}, {"x": 2 * A}).ok
    half = gradcheck(loss, {"x": A}, {"x": A})["x"].diagnosis
    assert half is not None
    assert half.kind is Mistake.SCALED
