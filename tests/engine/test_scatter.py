"""x[index] and the scatter-add behind every indexing gradient (chainrule.primitives.scatter),
on array_api_strict (the standard's own indexing and no scatter: the gathers over flat
positions) and, for the scatter, on JAX (`.at[].add`), against NumPy bit for bit: a gather
moves values unchanged, and the scatter adds repeats in np.add.at's order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chainrule.backends import namespace, to_numpy
from chainrule.primitives.scatter import scatter_add, select

strict = pytest.importorskip("array_api_strict")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = pytest.importorskip("jax.numpy")

BACKENDS = {"array_api_strict": strict, "jax": jnp}

# NumPy's index forms on a (2, 5, 6, 3) array, after tinygrad's test/test_ops.py fancy
# indexing cases (test_slice_fancy_indexing_*: int arrays next to slices, ints and None,
# arrays apart so the selection axes move first, arrays that broadcast, with an ellipsis),
# with PyTorch's test_indexing boolean-mask forms added.
ROWS, COLUMNS = np.array([1, 0, 1]), np.array([[4], [0]])
INDEX_FORMS: dict[str, Any] = {
    "slices and an int": (slice(None), 2, slice(1, None, 2)),
    "None and ellipsis": (None, Ellipsis, 1),
    "one array": np.array([1, 1, 0]),
    "array beside slices": (slice(None), ROWS, slice(2, 5)),
    "arrays apart": (ROWS, slice(None), np.array([5, 0, 2])),
    "broadcast arrays": (0, COLUMNS, ROWS),
    "int between arrays": (ROWS, 3, ROWS),
    "array after ellipsis": (Ellipsis, np.array([2, -1])),
    "array with None": (None, slice(None), ROWS),
    "mask of the first axis": np.array([True, False]),
    "mask beside a slice": (slice(None), np.array([True, False, True, True, False]), 1),
}


def _values(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape)


@pytest.mark.parametrize("form", INDEX_FORMS)
def test_select_takes_numpy_indexing_on_standard_arrays(form: str) -> None:
    x = _values((2, 5, 6, 3))
    index = INDEX_FORMS[form]
    selected = select(strict.asarray(x), index)
    assert namespace(selected) is not np
    np.testing.assert_array_equal(to_numpy(selected), x[index], strict=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", INDEX_FORMS)
def test_scatter_add_is_the_transpose_of_select_on_every_library(backend: str, form: str) -> None:
    shape, index = (2, 5, 6, 3), INDEX_FORMS[form]
    values = _values(np.zeros(shape)[index].shape)
    expected = np.zeros(shape)
    np.add.at(expected, index, values)
    added = scatter_add(BACKENDS[backend].asarray(values), shape, index)
    np.testing.assert_array_equal(to_numpy(added), expected, strict=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scatter_add_sums_a_repeated_position_in_index_order(backend: str) -> None:
    # After PyTorch's test_autograd index_put accumulate with duplicate indices: in float64
    # (1e16 + 1) - 1e16 is 0 and (1e16 - 1e16) + 1 is 1, so only np.add.at's order gives 0.
    values = np.array([1e16, 2.0, 1.0, -1e16])
    index = np.array([3, 0, 3, 3])
    added = scatter_add(BACKENDS[backend].asarray(values), (4,), index)
    np.testing.assert_array_equal(to_numpy(added), np.array([2.0, 0.0, 0.0, 0.0]), strict=True)


def test_scatter_add_by_gathers_keeps_an_infinite_value_at_its_own_position() -> None:
    # A one-hot product would turn inf * 0 into NaN at every other position.
    values = strict.asarray([np.inf, 1.0])
    added = scatter_add(values, (3,), np.array([2, 0]))
    np.testing.assert_array_equal(to_numpy(added), np.array([1.0, 0.0, np.inf]), strict=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scatter_add_broadcasts_the_values_to_the_selection(backend: str) -> None:
    index = (np.array([0, 0, 2]), slice(None))
    added = scatter_add(BACKENDS[backend].asarray(np.array([1.0, 2.0])), (3, 2), index)
    expected = np.array([[2.0, 4.0], [0.0, 0.0], [1.0, 2.0]])
    np.testing.assert_array_equal(to_numpy(added), expected, strict=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scatter_add_of_an_empty_selection_is_zeros_in_the_values_dtype(backend: str) -> None:
    xp = BACKENDS[backend]
    values = xp.asarray(np.zeros((0, 2), dtype=np.float32))
    added = scatter_add(values, (3, 2), np.array([], dtype=np.intp))
    np.testing.assert_array_equal(to_numpy(added), np.zeros((3, 2), np.float32), strict=True)
