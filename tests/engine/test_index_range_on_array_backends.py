"""Indexing a tensor held by JAX with an index past its shape raises as on NumPy.

JAX clamps an out-of-range index to the nearest entry (x[5] of 3 entries read x[2], x[-4]
read x[0]) without a word; NumPy and PyTorch raise IndexError. Indices in range, negative
ones included, still give NumPy's values and gradients, and an index traced by jax.jit
(compile's XLA backend, which checks its arguments on the host) is left to run.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import chainrule as cr
from chainrule import primitives as P
from chainrule.backends import to_numpy

jax.config.update("jax_enable_x64", True)

OUT_OF_RANGE = [
    pytest.param(5, id="int-past-end"),
    pytest.param(-5, id="int-before-start"),
    pytest.param(np.array([0, 4]), id="array-past-end"),
    pytest.param(np.array([-5, 1]), id="array-before-start"),
    pytest.param((1, np.array([3])), id="tuple-second-axis"),
    pytest.param((slice(None), np.array([2, 3])), id="slice-then-array"),
    pytest.param((Ellipsis, np.array([3])), id="ellipsis-then-array"),
    pytest.param((None, 4), id="new-axis-then-int"),
    pytest.param((np.array([0, 1]), np.array([0, 7])), id="two-arrays"),
]

IN_RANGE = [
    pytest.param(-1, id="int-last"),
    pytest.param(-4, id="int-first-from-end"),
    pytest.param(np.array([-1, 0, -1, 3]), id="array-repeats-negative"),
    pytest.param((1, np.array([-3, 2])), id="tuple-negative"),
    pytest.param((slice(None), np.array([2, -1, 2])), id="slice-then-array"),
    pytest.param((np.array([-4, 3]), np.array([0, -1])), id="two-arrays"),
    pytest.param(np.array([True, False, True, True]), id="mask"),
]


def _matrix(library: Any) -> cr.Tensor:
    values = np.arange(12.0).reshape(4, 3)
    return cr.tensor(values if library is np else library.asarray(values), requires_grad=True)


@pytest.mark.parametrize("index", OUT_OF_RANGE)
def test_an_index_out_of_range_raises_on_jax_as_on_numpy(index: Any) -> None:
    with pytest.raises(IndexError) as on_numpy:
        _matrix(np)[index]
    with pytest.raises(IndexError) as on_jax:
        _matrix(jnp)[index]
    assert str(on_jax.value) == str(on_numpy.value)


@pytest.mark.parametrize("index", OUT_OF_RANGE[:4])
def test_an_integer_tensor_index_out_of_range_raises_on_jax(index: Any) -> None:
    positions = cr.tensor(jnp.asarray(index), dtype=np.int64)
    with pytest.raises(IndexError, match=r"getitem: index -?[45] is out of bounds for axis 0"):
        _matrix(jnp)[positions]


@pytest.mark.parametrize("index", IN_RANGE)
def test_an_index_in_range_gives_numpy_values_and_gradients_on_jax(index: Any) -> None:
    expected, actual = _matrix(np), _matrix(jnp)
    seed = np.random.default_rng(0).uniform(-1, 1, expected[index].shape)
    (expected[index] * seed).sum().backward()
    (actual[index] * jnp.asarray(seed)).sum().backward()
    np.testing.assert_array_equal(to_numpy(actual[index].data), expected[index].data)
    assert actual.grad is not None
    assert expected.grad is not None
    np.testing.assert_array_equal(to_numpy(actual.grad.data), expected.grad.data)


def test_an_index_traced_by_jax_jit_is_left_to_run() -> None:
    values = jnp.arange(12.0).reshape(4, 3)

    def pick(rows: Any) -> Any:
        return P.GetItem.forward(values, index=(rows, np.array([0, 2])))[0]

    picked = jax.jit(pick)(jnp.asarray([3, 1]))
    np.testing.assert_array_equal(np.asarray(picked), [9.0, 5.0])
