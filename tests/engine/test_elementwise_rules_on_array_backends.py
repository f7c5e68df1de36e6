"""The element-wise rules and their helpers on arrays of other libraries than NumPy.

test_rules_on_array_backends.py replays the whole op table on array_api_strict and JAX
arrays; this file states what the plain path (`call`, `is_array`, `plain_values`,
`sum_to_shape`) does with such arrays, and checks edge points of the element-wise rules
(ties, kinks, bounds, zero exponents) on them against PyTorch.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.primitives as P
from chainrule.backends import namespace, to_numpy
from chainrule.primitives.base import plain_values

strict = pytest.importorskip("array_api_strict")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = pytest.importorskip("jax.numpy")

BACKENDS = {"array_api_strict": strict, "jax": jnp}


@pytest.fixture(params=list(BACKENDS))
def xp(request: pytest.FixtureRequest) -> Any:
    return BACKENDS[request.param]


def _is_in(xp: Any, value: Any) -> bool:
    """True when `value` is an array of `xp`'s library, not a NumPy array."""
    return namespace(value) is not np and type(value) is type(xp.asarray(0.0))


def test_sum_to_shape_sums_broadcast_axes_in_the_arrays_own_library(xp: Any) -> None:
    grad = np.arange(24.0).reshape(2, 3, 4)
    for shape in [(3, 4), (3, 1), (1, 4), (2, 1, 1), ()]:
        summed = P.sum_to_shape(xp.asarray(grad), shape)
        assert _is_in(xp, summed)
        expected = P.sum_to_shape(grad, shape)
        assert summed.shape == shape
        np.testing.assert_allclose(to_numpy(summed), expected, rtol=1e-15)


def test_sum_to_shape_keeps_float32(xp: Any) -> None:
    summed = P.sum_to_shape(xp.ones((5, 3), dtype=xp.float32), (3,))
    assert summed.dtype == xp.float32


def test_is_array_holds_for_arrays_of_any_library_but_not_for_tensors(xp: Any) -> None:
    assert P.is_array(xp.asarray([1.0]))
    assert P.is_array(np.float64(1.0))
    assert not P.is_array(cr.tensor([1.0]))


def test_call_on_arrays_of_another_library_computes_there_without_recording(xp: Any) -> None:
    out = P.call(P.Exp, xp.asarray([0.0, 1.0]))
    assert _is_in(xp, out)
    np.testing.assert_allclose(to_numpy(out), np.exp([0.0, 1.0]), rtol=1e-15)


def test_call_on_numpy_scalars_still_gives_an_ndarray() -> None:
    out = P.call(P.Exp, np.float64(0.0))
    assert type(out) is np.ndarray
    assert out.shape == ()


def test_plain_values_keeps_an_array_of_another_library_there(xp: Any) -> None:
    array = xp.asarray([1.0, -2.0])
    assert plain_values(array) is array


def test_plain_values_of_a_tensor_that_requires_grad_is_its_ndarray() -> None:
    values = plain_values(cr.tensor([1.0, 2.0], requires_grad=True))
    assert type(values) is np.ndarray
    np.testing.assert_array_equal(values, [1.0, 2.0])


# Edge points against PyTorch, on the other libraries' arrays. Cases ported (in our words) from
# peer suites: tinygrad's test/test_ops.py (test_maximum / test_minimum with ties against a
# scalar and between arrays, test_relu at 0), PyTorch's test_autograd (pow of 0 to the power 0
# has gradient 0) and HIPS autograd's tests/test_numpy.py (test_where, test_clip).
def _rule_on(xp: Any, primitive: type[P.Primitive], *arrays: Any, **params: Any) -> Any:
    """`primitive`'s output and input gradients (seed: ones) computed on `xp`'s arrays, the
    gradients summed to each input's shape, all as ndarrays."""
    inputs = [xp.asarray(np.asarray(array, dtype=np.float64)) for array in arrays]
    out, saved = primitive.forward(*inputs, **params)
    assert _is_in(xp, out), f"{primitive.name}: the output left {xp.__name__}"
    grads = primitive.vjp(saved, xp.ones(out.shape, dtype=out.dtype), (True,) * len(inputs))
    summed = [P.sum_to_shape(grad, x.shape) for grad, x in zip(grads, inputs, strict=True)]
    return to_numpy(out), [to_numpy(grad) for grad in summed]


def _torch_gradients(torch: ModuleType, f: Any, *arrays: Any) -> Any:
    inputs = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = f(*inputs)
    out.sum().backward()
    return out.detach().numpy(), [x.grad.numpy() for x in inputs]


def _assert_matches_torch(ours: Any, theirs: Any) -> None:
    (out, grads), (torch_out, torch_grads) = ours, theirs
    np.testing.assert_allclose(out, torch_out, rtol=1e-12)
    for grad, torch_grad in zip(grads, torch_grads, strict=True):
        assert grad.shape == torch_grad.shape
        np.testing.assert_allclose(grad, torch_grad, rtol=1e-12)


@pytest.mark.parametrize(
    ("x", "y"),
    [([[1.0, 0.0, 3.0, -4.0]], 3.0), ([[1.0, 0.0, 3.0, -4.0]], [[-1.0, -2.0, 3.0, 0.0]])],
)
def test_maximum_and_minimum_split_ties_as_pytorch(
    xp: Any, torch: ModuleType, x: Any, y: Any
) -> None:
    for primitive, torch_op in [(P.Maximum, torch.maximum), (P.Minimum, torch.minimum)]:
        _assert_matches_torch(
            _rule_on(xp, primitive, x, y), _torch_gradients(torch, torch_op, x, y)
        )


def test_relu_has_gradient_zero_at_zero(xp: Any, torch: ModuleType) -> None:
    x = [-1.0, 0.0, 2.0]
    _assert_matches_torch(_rule_on(xp, P.ReLU, x), _torch_gradients(torch, torch.relu, x))


def test_zero_to_the_power_zero_has_gradient_zero(xp: Any, torch: ModuleType) -> None:
    x, y = [0.0, 2.0, 0.0], [0.0, 0.0, 1.5]
    _assert_matches_torch(_rule_on(xp, P.Pow, x, y), _torch_gradients(torch, torch.pow, x, y))


def test_where_sends_the_gradient_to_the_chosen_input(xp: Any, torch: ModuleType) -> None:
    condition = np.array([[True, False, True]])
    x, y = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [-1.0, -2.0, -3.0]
    ours = _rule_on(xp, P.Where, x, y, condition=xp.asarray(condition))
    theirs = _torch_gradients(
        torch, lambda a, b: torch.where(torch.from_numpy(condition), a, b), x, y
    )
    _assert_matches_torch(ours, theirs)


@pytest.mark.parametrize(("low", "high"), [(0.1, 1.1), (None, 0.5), (0.5, None)])
def test_clip_passes_the_gradient_inside_its_bounds_only(
    xp: Any, torch: ModuleType, low: float | None, high: float | None
) -> None:
    x = [-0.5, 0.1, 0.3, 0.5, 1.1, 2.0]
    _assert_matches_torch(
        _rule_on(xp, P.Clip, x, low=low, high=high),
        _torch_gradients(torch, lambda a: torch.clamp(a, low, high), x),
    )
