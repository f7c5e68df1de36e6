"""Arrays that are not real numbers: gradcheck and finite differences refuse complex and
non-numeric input instead of dropping the imaginary part or parsing strings; compare
compares complex values whole."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import compare, directional_derivative, gradcheck, numerical_grad

REAL = np.array([0.5, -1.0, 2.0])


def square_loss(arrays: dict[str, np.ndarray]) -> float:
    return float((arrays["x"] ** 2).sum())


def test_gradcheck_refuses_a_complex_input() -> None:
    # was: cast to float64 with a ComplexWarning, the imaginary part dropped, and "ok"
    with pytest.raises(TypeError, match=r"gradcheck: array 'x' has dtype complex128.*real"):
        gradcheck(square_loss, {"x": REAL + 1j}, {"x": 2 * REAL})


def test_gradcheck_refuses_a_complex_gradient_whose_imaginary_part_is_wrong() -> None:
    # was: "ok" for 2x + 5j, the 5j never compared
    with pytest.raises(TypeError, match=r"the gradient of 'x' has dtype complex128"):
        gradcheck(square_loss, {"x": REAL}, {"x": 2 * REAL + 5j})


def test_gradcheck_refuses_a_gradient_of_strings() -> None:
    with pytest.raises(TypeError, match=r"the gradient of 'x' has dtype <U4"):
        gradcheck(square_loss, {"x": REAL}, {"x": np.array(["1.0", "-2.0", "4.0"])})


def test_gradcheck_still_takes_integer_and_bool_arrays() -> None:
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["x"] * arrays["k"]).sum())

    report = gradcheck(loss, {"x": REAL, "k": np.array([1, 0, 3])}, {"x": [1, 0, 3]})
    assert report.ok, str(report)


def test_finite_differences_refuse_complex_points_and_directions() -> None:
    with pytest.raises(TypeError, match=r"numerical_grad: x has dtype complex128"):
        numerical_grad(lambda v: float((v**2).sum()), REAL + 1j)
    with pytest.raises(TypeError, match=r"directional_derivative: direction has dtype complex"):
        directional_derivative(lambda v: float((v**2).sum()), REAL, REAL * 1j)


def test_compare_tells_complex_values_that_differ_only_in_the_imaginary_part() -> None:
    # was: "exact" (both cast to float64, 1+1j and 1+2j became 1.0 and 1.0)
    result = compare("z", np.array([1 + 1j, 2 + 0j]), np.array([1 + 2j, 2 + 0j]))
    assert result.status == "MISMATCH"
    assert result.max_abs_err == 1.0
    assert result.worst_index == (0,)


def test_compare_judges_complex64_with_float32_tolerances() -> None:
    got = np.array([1 + 1j], dtype=np.complex64)
    assert compare("z", got, np.array([1 + 1j + 1e-6])).status == "close"
    assert compare("z", got, np.array([1 + 1.01j])).status == "MISMATCH"


def test_compare_refuses_arrays_that_are_not_numbers() -> None:
    with pytest.raises(TypeError, match=r"compare 'w': got has dtype <U1, not numbers"):
        compare("w", np.array(["1"]), np.array([1.0]))


def test_finite_differences_refuse_a_float32_value() -> None:
    # was: numerical_grad gave [1.907, 3.815] for the gradient [2, 4], silently
    def in_float32(v: np.ndarray) -> np.float32:
        return (v.astype(np.float32) ** 2).sum()

    with pytest.raises(ValueError, match=r"numerical_grad: f's value came back as float32"):
        numerical_grad(in_float32, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"directional_derivative: f's value came back as float32"):
        directional_derivative(in_float32, np.array([1.0, 2.0]), np.array([0.6, 0.8]))


def _softmax_cross_entropy(arrays: dict[str, np.ndarray]) -> float:
    logits, labels = arrays["z"], arrays["y"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def test_integer_labels_and_bool_masks_no_gradient_differentiates_keep_their_dtype() -> None:
    # class labels index the logits; as float64 copies they crashed the loss with NumPy's
    # "arrays used as indices must be of integer (or boolean) type"
    logits = np.random.default_rng(4).standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    right = probabilities.copy()
    right[np.arange(4), labels] -= 1
    right /= 4
    report = gradcheck(_softmax_cross_entropy, {"z": logits, "y": labels}, {"z": right})
    assert report.ok, report

    def masked(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["x"][arrays["keep"]] ** 2).sum())

    keep = np.array([True, False, True])
    report = gradcheck(masked, {"x": REAL, "keep": keep}, {"x": 2 * REAL * keep})
    assert report.ok, report
