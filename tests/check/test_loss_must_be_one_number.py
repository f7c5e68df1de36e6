"""A loss function must return one number. One that returns an array of several values, None
or a string is refused naming the function and the fix (Python's and NumPy's own errors, such
as "only 0-dimensional arrays can be converted to Python scalars", named neither); one value
in an array of shape (1,) is read as that number."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from chainrule.check import directional_derivative, gradcheck, numerical_grad

POINT = np.array([1.0, -2.0, 3.0])


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (lambda x: x**2, r"the loss has shape \(3,\), not one number; loss_fn must .* \.sum\(\)"),
        (lambda x: None, r"the loss is None, not a number"),
        (lambda x: "1.5", r"the loss is the string '1.5'"),
    ],
    ids=["vector", "none", "string"],
)
def test_gradcheck_refuses_a_loss_that_is_not_one_number(
    returned: Callable[[np.ndarray], object], message: str
) -> None:
    with pytest.raises(TypeError, match=rf"gradcheck: {message}"):
        gradcheck(lambda arrays: returned(arrays["x"]), {"x": POINT}, {"x": 2 * POINT})


def test_the_finite_differences_refuse_a_vector_valued_function() -> None:
    with pytest.raises(TypeError, match=r"numerical_grad: f's value has shape \(3,\)"):
        numerical_grad(lambda v: v**2, POINT)
    with pytest.raises(TypeError, match=r"directional_derivative: f's value has shape \(3,\)"):
        directional_derivative(lambda v: v**2, POINT, POINT / np.linalg.norm(POINT))


@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_one_value_in_an_array_is_that_number(shape: tuple[int, ...]) -> None:
    report = gradcheck(
        lambda arrays: (arrays["x"] ** 2).sum().reshape(shape), {"x": POINT}, {"x": 2 * POINT}
    )
    assert report.ok, report
