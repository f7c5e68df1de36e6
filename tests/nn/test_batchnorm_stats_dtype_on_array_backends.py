"""BatchNorm1d's running statistics keep their dtype on JAX and array_api_strict arrays.

On NumPy they are updated in place, so a float64 batch through a float32 layer leaves them
float32. On other libraries they are replaced by new arrays, which took the batch's float64
(and an eval pass then normalised with float64 statistics): a silent change of dtype and,
in float32, of value. Now they equal NumPy's in dtype, and in value to the rounding of the
batch's reduction (JAX sums in another order: 1 ulp in float64).
"""

from __future__ import annotations

from typing import Any

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from chainrule import nn
from chainrule.backends import to_numpy

jax.config.update("jax_enable_x64", True)

LIBRARIES = [pytest.param(jnp, id="jax"), pytest.param(array_api_strict, id="array_api_strict")]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2)])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_running_stats_keep_their_dtype_and_numpy_values(
    library: Any, momentum: float | None, shape: tuple[int, ...], layer_dtype: type
) -> None:
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal(shape) * 3 + 1 for _ in range(3)]  # float64 batches
    on_numpy = nn.BatchNorm1d(3, momentum=momentum, dtype=layer_dtype)
    moved = nn.BatchNorm1d(3, momentum=momentum, dtype=layer_dtype).to(library)
    for batch in batches:
        on_numpy(batch)
        moved(library.asarray(batch))
    rtol = 1e-6 if layer_dtype == np.float32 else 1e-13
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        expected, actual = getattr(on_numpy, name), to_numpy(getattr(moved, name))
        assert actual.dtype == expected.dtype, name
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0, err_msg=name)
    check = batches[0]
    expected_out = on_numpy.eval()(check).data
    actual_out = to_numpy(moved.eval()(library.asarray(check)).data)
    assert actual_out.dtype == expected_out.dtype
    np.testing.assert_allclose(actual_out, expected_out, rtol=1e-12, atol=1e-13)
