"""Review of issue 14 (transforms, linear algebra, element-wise math): each test pins a defect
found by using the new ops as a user porting NumPy or PyTorch code would, so that it stays
fixed. One behaviour per test; PyTorch or NumPy is the reference where they agree.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr

MATRIX = np.arange(12.0).reshape(3, 4)


# ------------------------------------------------------------------ whole-number arguments
@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda m: cr.diagonal(m, 1.5), "offset=1.5"),
        (lambda m: cr.diagonal(m, 0, 0.0, 1), "axis1=0.0"),
        (lambda m: cr.trace(m, 0.5), "offset=0.5"),
        (lambda m: cr.diag(m, 0.7), "k=0.7"),
        (lambda m: cr.diag(m[0], 1.0), "k=1.0"),
        (lambda m: cr.tril(m, -1.5), "k=-1.5"),
        (lambda m: cr.triu(m, 0.5), "k=0.5"),
        (lambda m: m.triu(np.float64(0.5)), "k=np.float64(0.5)"),
    ],
)
def test_a_fractional_offset_or_k_is_refused_instead_of_truncated(
    call: Callable[[cr.Tensor], cr.Tensor], argument: str
) -> None:
    # int(0.5) is 0, but np.triu(m, 0.5) keeps j - i >= 0.5, i.e. k = 1: truncating gave a
    # silently different triangle; NumPy's diagonal and PyTorch raise a TypeError instead.
    with pytest.raises(TypeError, match=argument.replace("(", r"\(").replace(")", r"\)")):
        call(cr.tensor(MATRIX))


def test_integer_like_offsets_are_accepted_as_numpy_accepts_them() -> None:
    tensor = cr.tensor(MATRIX)
    np.testing.assert_array_equal(
        cr.diagonal(tensor, np.int64(1)).numpy(), np.diagonal(MATRIX, np.int64(1))
    )
    np.testing.assert_array_equal(cr.tril(tensor, np.int32(-1)).numpy(), np.tril(MATRIX, -1))
