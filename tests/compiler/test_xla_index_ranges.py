"""compile(backend="xla") refuses an index argument out of range, as eager execution does.

Inside `jax.jit` an index has no value to check and XLA does not raise: a gather clamps
the index to the last entry (x[5] of 4 entries read x[3]), the embedding and the losses
read NaN. The program once did that silently; the replay now checks the arguments it
indexes with on the host before each call (`compiler.xla_indices`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import compile

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)  # int64 indices; float32 values stay float32

W1 = np.arange(4.0, dtype=np.float32)
W2 = np.arange(12.0, dtype=np.float32).reshape(3, 4)
GOOD = np.array([1, 2])

# name -> (the step's use of parameter w and index argument i, w's values, bad indices)
CASES: dict[str, tuple[Callable[[cr.Tensor, np.ndarray], cr.Tensor], np.ndarray, list[int]]] = {
    "w[i]": (lambda w, i: w[i], W1, [5, -5]),
    "take": (lambda w, i: cr.take(w, i), W1, [4, -5]),
    "w[:, i]": (lambda w, i: w[:, i], W2, [4, -5]),
    "w[i, ...]": (lambda w, i: w[i, ...], W2, [3, -4]),
    "w[..., i]": (lambda w, i: w[..., i], W2, [4]),
    "w[None, i]": (lambda w, i: w[None, i], W2, [3]),
    "take_along_axis": (lambda w, i: cr.take_along_axis(w, i, axis=0), W1, [4]),
    "gather": (lambda w, i: cr.gather(w, 0, i), W1, [7]),
    "scatter_add": (lambda w, i: cr.scatter_add(w, 0, i, w[:2] * 2.0), W1, [4]),
    "embedding": (lambda w, i: F.embedding(i, w), W2.T.copy(), [4, -1]),
    "cross_entropy": (lambda w, i: F.cross_entropy(w[:2], i), W2, [4, -1]),
    "cross_entropy weighted": (
        lambda w, i: F.cross_entropy(w[:2], i, weight=np.ones(4, np.float32)),
        W2,
        [4, -1],
    ),
    "nll_loss": (lambda w, i: F.nll_loss(w[:2], i), W2, [4, -2]),
}


def _compiled(
    use: Callable[[cr.Tensor, np.ndarray], cr.Tensor], values: np.ndarray
) -> tuple[Callable[[np.ndarray], cr.Tensor], cr.Tensor]:
    w = cr.tensor(values.copy(), requires_grad=True)

    def step(i: np.ndarray) -> cr.Tensor:
        w.grad = None
        out = use(w, i)
        out.sum().backward()
        return out

    return compile(step, backend="xla"), w


@pytest.mark.parametrize("case", CASES)
def test_an_index_out_of_range_is_refused_after_the_program_is_built(case: str) -> None:
    use, values, bad_values = CASES[case]
    for bad in bad_values:
        run, w = _compiled(use, values)
        for _ in range(3):  # traced, checked, replayed
            expected = run(GOOD).numpy().copy()
        index = GOOD.copy()
        index[1] = bad
        # Checked on the host ("holds"), or by the op where the step is traced again.
        with pytest.raises((IndexError, ValueError), match=rf"(holds|index|target) {bad}\b"):
            run(index)
        # Refused before the call: the parameter is as the last good call left it, and the
        # next good call gives what the good calls gave.
        np.testing.assert_array_equal(w.data, values)
        np.testing.assert_array_equal(run(GOOD).numpy(), expected)


@pytest.mark.parametrize("case", CASES)
def test_eager_execution_refuses_the_same_indices(case: str) -> None:
    """The refusal matches eager: each bad index above raises eagerly too."""
    use, values, bad_values = CASES[case]
    w = cr.tensor(values.copy(), requires_grad=True)
    for bad in bad_values:
        index = GOOD.copy()
        index[1] = bad
        with pytest.raises((IndexError, ValueError)):
            use(w, index)


def test_ignore_index_is_allowed_on_the_general_path_and_refused_on_the_fused_one() -> None:
    """As the NumPy replay: a step traced on targets that were all classes took the fused
    path, which has no ignore_index (refused, naming the fix: a weight); with a weight, the
    general path takes ignore_index at every call."""
    w = cr.tensor(W2.copy(), requires_grad=True)
    weight: list[np.ndarray | None] = [None]

    def step(y: np.ndarray) -> cr.Tensor:
        w.grad = None
        loss = F.cross_entropy(w[:2], y, weight=weight[0], ignore_index=-1)
        loss.backward()
        return loss

    skipped = np.array([-1, 2])
    for backend in ["numpy", "xla"]:
        run = compile(step, backend=backend)
        for _ in range(3):
            run(GOOD)
        with pytest.raises(ValueError, match=r"weight=np\.ones"):
            run(skipped)
    weight[0] = np.ones(4, np.float32)
    run = compile(step, backend="xla")
    for _ in range(3):
        run(GOOD)
    got = run(skipped).numpy()
    expected = F.cross_entropy(cr.tensor(W2[:2]), skipped, ignore_index=-1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_jax_array_index_is_checked_too() -> None:
    run, _ = _compiled(lambda w, i: w[i], W1)
    for _ in range(3):
        run(jax.numpy.asarray(GOOD))
    with pytest.raises(IndexError, match="holds 9"):
        run(jax.numpy.asarray(np.array([0, 9])))
