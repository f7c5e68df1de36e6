"""An argument used as an index inside a tuple (x[:, i], x[rows, y], take along an axis,
take_along_axis, gather) is an argument of every replay, as when it is the whole index: a
replay indexes with the call's values, never the first call's (which it once did, silently,
on both backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, compile

BACKENDS = ["numpy", "xla"]

W2 = np.arange(12.0).reshape(3, 4)
FIRST, OTHER = np.array([1, 2]), np.array([0, 3])

# name -> (the step's use of parameter w and index argument i, w's values)
CASES: dict[str, tuple[Callable[[cr.Tensor, np.ndarray], cr.Tensor], np.ndarray]] = {
    "w[(i,)]": (lambda w, i: w[(i,)], np.arange(4.0)),
    "w[:, i]": (lambda w, i: w[:, i], W2),
    "w[rows, i]": (lambda w, i: w[np.arange(2), i], W2),
    "w[i, ...]": (lambda w, i: w[i, ...], W2.T.copy()),
    "take axis=0": (lambda w, i: cr.take(w, i, axis=0), np.arange(4.0)),
    "take axis=1": (lambda w, i: cr.take(w, i, axis=1), W2),
    "take_along_axis": (lambda w, i: cr.take_along_axis(w, i, axis=0), np.arange(4.0)),
    "gather": (lambda w, i: cr.gather(w, 0, i), np.arange(4.0)),
    "scatter_add": (lambda w, i: cr.scatter_add(w, 0, i, w[:2] * 2.0), np.arange(4.0)),
}


def _run(
    backend: str | None,
    use: Callable[[cr.Tensor, np.ndarray], cr.Tensor],
    values: np.ndarray,
    calls: list[np.ndarray],
) -> list[tuple[np.ndarray, np.ndarray]]:
    w = cr.tensor(values.copy(), requires_grad=True)

    def step(i: np.ndarray) -> cr.Tensor:
        w.grad = None
        out = use(w, i)
        (out * out).sum().backward()
        return out

    run = step if backend is None else compile(step, backend=backend)
    results = []
    for i in calls:
        out = run(i).numpy().copy()
        assert w.grad is not None
        results.append((out, w.grad.numpy().copy()))
    return results


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_argument_inside_a_tuple_is_read_at_every_call(case: str, backend: str) -> None:
    if backend == "xla":
        pytest.importorskip("jax").config.update("jax_enable_x64", True)  # int64 indices
    use, values = CASES[case]
    calls = [FIRST, FIRST, FIRST, OTHER, FIRST, OTHER]
    expected = _run(None, use, values, calls)
    got = _run(backend, use, values, calls)
    for (out, grad), (out_e, grad_e) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(out, out_e)
        np.testing.assert_array_equal(grad, grad_e)
    # The two index values select different entries: the test can tell them apart.
    assert not np.array_equal(expected[2][0], expected[3][0])


def test_the_tuple_index_replay_matches_pytorch(torch: Any) -> None:
    logits = np.random.default_rng(0).standard_normal((3, 4))
    labels = [np.array([0, 1, 3]), np.array([2, 2, 0]), np.array([3, 0, 1])]
    w = cr.tensor(logits.copy(), requires_grad=True)

    def step(y: np.ndarray) -> cr.Tensor:
        w.grad = None
        picked = w[np.arange(3), y]
        loss = -(picked.sum())
        loss.backward()
        return loss

    run = compile(step)
    # Two equal calls first: the trace is checked by the second, and replayed from the third.
    for y in [labels[0], *labels, labels[1]]:
        loss = run(y).numpy()
        tw = torch.tensor(logits, requires_grad=True)
        tloss = -tw[torch.arange(3), torch.tensor(y)].sum()
        tloss.backward()
        np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=1e-15)
        assert w.grad is not None
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_computed_from_an_argument_with_numpy_is_refused(backend: str) -> None:
    if backend == "xla":
        pytest.importorskip("jax").config.update("jax_enable_x64", True)
    w = cr.tensor(W2.copy(), requires_grad=True)

    def step(i: np.ndarray) -> cr.Tensor:
        out = cr.gather(w, 1, np.stack([i, i[::-1]]))  # NumPy made it: frozen by a trace
        out.sum().backward()
        return out

    run = compile(step, backend=backend)
    run(FIRST)
    with pytest.raises(CompileError, match=r"the 'index' of getitem of shape \(2, 2\)"):
        run(OTHER)


# Advanced indices mixed with slices, as JAX's lax_numpy indexing tests mix them (in our
# words): two index arguments broadcast against each other around a slice, and negative
# indices, which NumPy and JAX both count from the end.
W3 = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_and_negative_index_arguments_follow_each_call(backend: str) -> None:
    if backend == "xla":
        pytest.importorskip("jax").config.update("jax_enable_x64", True)
    calls = [
        (np.array([0, 1]), np.array([[3], [-1]])),
        (np.array([0, 1]), np.array([[3], [-1]])),
        (np.array([0, 1]), np.array([[3], [-1]])),
        (np.array([-1, 0]), np.array([[-4], [2]])),
        (np.array([1, 1]), np.array([[0], [0]])),
    ]
    results = []
    for mode in (None, backend):
        w = cr.tensor(W3.copy(), requires_grad=True)

        def step(i: np.ndarray, j: np.ndarray, w: cr.Tensor = w) -> cr.Tensor:
            w.grad = None
            out = w[i, :, j]  # shape (2, 2, 3): the advanced axes first, as NumPy
            (out * out).sum().backward()
            return out

        run = step if mode is None else compile(step, backend=mode)
        results.append([(run(i, j).numpy().copy(), w.grad.numpy().copy()) for i, j in calls])
    for (out, grad), (out_e, grad_e) in zip(results[1], results[0], strict=True):
        assert out.shape == out_e.shape == (2, 2, 3)
        np.testing.assert_array_equal(out, out_e)
        np.testing.assert_array_equal(grad, grad_e)
