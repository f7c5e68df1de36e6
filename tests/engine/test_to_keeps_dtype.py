"""`Tensor.to` refuses a move that would change a float dtype (JAX without jax_enable_x64
keeps float64 values as float32 with only a warning), as `Module.to` does."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A fresh interpreter: another test module turns jax_enable_x64 on for this process.
_TENSOR_TO_JAX = """
import numpy as np, jax
import chainrule as cr
assert not jax.config.jax_enable_x64
x = cr.tensor(np.array([1.0 + 2.0**-40, 2.0]), requires_grad=True)
try:
    x.to(jax.numpy)
except TypeError as error:
    print(error)
small = cr.tensor(np.array([1.5], dtype=np.float32))
print(small.to(jax.numpy).dtype)
"""


def test_tensor_to_jax_without_x64_refuses_float64_instead_of_truncating() -> None:
    pytest.importorskip("jax")
    result = subprocess.run(
        [sys.executable, "-c", _TENSOR_TO_JAX], capture_output=True, text=True, check=True
    )
    message, small = result.stdout.strip().splitlines()
    assert message.startswith("to: jax keeps this float64 array as float32")
    assert "jax_enable_x64" in message
    assert small == "float32"


def test_tensor_to_array_api_strict_keeps_float64() -> None:
    xp = pytest.importorskip("array_api_strict")
    import numpy as np

    import chainrule as cr

    moved = cr.tensor(np.array([1.0 + 2.0**-40]), requires_grad=True).to(xp)
    assert moved.dtype == np.float64
    assert moved.requires_grad
