"""An argument array an op turns into its settings (repeat's counts, roll's shifts, tile's
reps, pad's widths, split's indices, reshape's shape) is a read of that argument: the trace
holds for its values only, and other values are traced afresh, giving eager's results (a
replay once kept the first call's settings for every later argument, silently)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.backends import to_numpy
from chainrule.compiler import compile

W = np.arange(4.0)

# name -> (the step's use of parameter w and argument a, the first value, another value)
CASES: dict[str, tuple[Callable[[cr.Tensor, np.ndarray], cr.Tensor], np.ndarray, np.ndarray]] = {
    "repeat": (lambda w, a: w.repeat_interleave(a), np.array([1, 1, 1, 1]), np.array([2, 0, 1, 1])),
    "roll": (lambda w, a: cr.roll(w, a), np.array([1]), np.array([2])),
    "tile": (lambda w, a: cr.tile(w, a), np.array([2]), np.array([3])),
    "pad": (lambda w, a: cr.pad(w, a), np.array([1, 1]), np.array([2, 0])),
    "split": (lambda w, a: cr.split(w, a)[0], np.array([1, 3]), np.array([2, 3])),
    "reshape": (lambda w, a: w.reshape(a), np.array([2, 2]), np.array([4, 1])),
}


def _run(
    backend: str | None,
    use: Callable[[cr.Tensor, np.ndarray], cr.Tensor],
    calls: list[np.ndarray],
) -> list[tuple[np.ndarray, np.ndarray]]:
    w = cr.tensor(W.copy(), requires_grad=True)

    def step(a: np.ndarray) -> cr.Tensor:
        w.grad = None
        out = use(w, a)
        (out * out).sum().backward()
        return out

    run = step if backend is None else compile(step, backend=backend)
    results = []
    for a in calls:
        out = run(a).numpy().copy()
        assert w.grad is not None
        results.append((out, w.grad.numpy().copy()))
    return results


@pytest.mark.parametrize("case", CASES)
def test_settings_read_from_an_argument_follow_its_values(case: str) -> None:
    use, first, other = CASES[case]
    calls = [first, first, first, other, other, first]
    expected = _run(None, use, calls)
    got = _run("numpy", use, calls)
    for (out, grad), (out_e, grad_e) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(out, out_e)
        np.testing.assert_array_equal(grad, grad_e)
    # The two values give different results: the test can tell them apart.
    first_out, other_out = expected[0][0], expected[3][0]
    assert first_out.shape != other_out.shape or not np.array_equal(first_out, other_out)


@pytest.mark.parametrize("case", CASES)
def test_the_xla_backend_follows_them_too(case: str) -> None:
    """repeat's per-entry counts included: the trace gathers by an index of fixed length
    built from them (jax.jit refused the counts as an array of traced values)."""
    pytest.importorskip("jax").config.update("jax_enable_x64", True)
    use, first, other = CASES[case]
    calls = [first, first, first, other, other, first]
    expected = _run(None, use, calls)
    got = _run("xla", use, calls)
    for (out, grad), (out_e, grad_e) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(out, out_e)
        np.testing.assert_array_equal(grad, grad_e)


@pytest.mark.parametrize("backend", ["numpy", "xla"])
def test_put_along_axis_and_scatter_follow_indices_repeated_then_changed(backend: str) -> None:
    """Their written positions are a mask made from the indices: a trace holds for those
    indices only (a step replayed on the same indices, then given others, is traced again)."""
    if backend == "xla":
        pytest.importorskip("jax").config.update("jax_enable_x64", True)
    for put in (
        lambda w, i: cr.put_along_axis(w * 2.0, i, -1.0, 1),
        lambda w, i: cr.scatter(w * 2.0, 1, i, -1.0),
    ):
        calls = [np.array([[0], [2]])] * 3 + [np.array([[1], [0]])] * 2 + [np.array([[0], [2]])]
        results = []
        for mode in (None, backend):
            w = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)

            def step(i: np.ndarray, w: cr.Tensor = w, put: Callable[..., cr.Tensor] = put):
                w.grad = None
                out = put(w, i)
                (out * out).sum().backward()
                return out

            run = step if mode is None else compile(step, backend=mode)
            results.append([(run(i).numpy().copy(), w.grad.numpy().copy()) for i in calls])
        for (out, grad), (out_e, grad_e) in zip(results[1], results[0], strict=True):
            np.testing.assert_array_equal(out, out_e)
            np.testing.assert_array_equal(grad, grad_e)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_repeat_with_per_entry_counts_on_other_libraries_equals_numpy(axis: int | None) -> None:
    strict = pytest.importorskip("array_api_strict")
    x = np.arange(6.0).reshape(2, 3)
    counts = {None: [1, 0, 2, 1, 3, 0], 0: [2, 1], 1: [0, 3, 1]}[axis]
    upstream = np.arange(np.repeat(x, counts, axis=axis).size, dtype=np.float64)
    results = []
    for device in ("numpy", None, strict.Device("device1")):
        data = x if device == "numpy" else strict.asarray(x, device=device)
        t = cr.tensor(data, requires_grad=True)
        out = t.repeat(counts, axis=axis)
        weights = upstream.reshape(out.shape)
        if device != "numpy":
            weights = strict.asarray(weights, device=device)
        (out * weights).sum().backward()
        assert t.grad is not None
        results.append((to_numpy(out.data), to_numpy(t.grad.data)))
    for out, grad in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(grad, results[0][1])
