"""The tutorial network (ReLU hidden layer) checked with a large step, as `chainrule verify
--eps 1e-2` does: a step of 1e-2 or 1e-1 crosses the kinks of several examples, fewer at each
finer step. The right gradients must not FAIL, and a wrong entry must FAIL at that entry."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import manual
from chainrule.check import GradcheckReport, gradcheck

NAMES = ("x", "w1", "b1", "w2", "b2")


def _network(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The arrays (y and the five checked ones) and the right gradients of the five."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((40, 6)), rng.standard_normal((40, 2))
    params = manual.init_params(6, 16, 2, rng=rng)
    _, cache = manual.forward(x, y, params)
    grads = manual.backward(cache)
    return {"y": y, **{name: cache[name] for name in NAMES}}, {name: grads[name] for name in NAMES}


def _loss(arrays: dict[str, np.ndarray]) -> float:
    return manual.forward(arrays["x"], arrays["y"], arrays)[0]


def _check(seed: int, grads: dict[str, np.ndarray], eps: float) -> GradcheckReport:
    arrays, _ = _network(seed)
    return gradcheck(_loss, arrays, grads, eps=eps, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("eps", [1e-2, 1e-1])
@pytest.mark.parametrize("seed", range(6))
def test_the_right_gradients_pass_with_a_large_step(seed: int, eps: float) -> None:
    # at eps = 1e-1, seeds 0, 1, 2 and 4 FAILED (kinks crossed on both sides cancel in the
    # slopes, and the misses shrank 3-7 fold per step: neither "kink" nor truncation), and
    # at eps = 1e-2 seed 1's w1 FAILED along its direction once its entries were verified
    _, grads = _network(seed)
    report = _check(seed, grads, eps)
    assert report.ok, report


def test_after_a_step_that_crossed_kinks_the_finer_steps_go_on_until_one_agrees() -> None:
    # at eps = 1 a miss of x crossed kinks at a finer step, and the row FAILED; the finer
    # steps now go on while the last one crossed kinks, and only two steps that both shrank
    # like truncation error are extrapolated
    _, grads = _network(1)
    assert _check(1, grads, 1.0)["x"].ok


@pytest.mark.parametrize("eps", [1e-2, 1e-1])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", range(3))
def test_a_wrong_entry_fails_there_with_a_large_step(seed: int, name: str, eps: float) -> None:
    _, grads = _network(seed)
    entry = tuple(
        int(i) for i in np.unravel_index(int(np.argmax(np.abs(grads[name]))), grads[name].shape)
    )
    wrong = grads[name].copy()
    wrong[entry] *= 1 + 1e-3
    row = _check(seed, {**grads, name: wrong}, eps)[name]
    assert (row.status, row.worst_index) == ("FAIL", entry), row


@pytest.mark.parametrize(("seed", "name"), [(0, "w1"), (2, "w1"), (3, "w1"), (7, "x"), (7, "w1")])
def test_a_wrong_entry_outside_the_sample_is_the_one_named_with_a_large_step(
    seed: int, name: str
) -> None:
    # the direction's miss is traced to one unsampled entry by halving; a right entry whose
    # coarse difference missed across kinks (agreeing at finer steps) was named instead
    arrays, grads = _network(seed)
    entry = tuple(
        int(i) for i in np.unravel_index(int(np.argmax(np.abs(grads[name]))), grads[name].shape)
    )
    wrong = grads[name].copy()
    wrong[entry] *= 1.5
    report = gradcheck(
        _loss,
        arrays,
        {**grads, name: wrong},
        eps=1e-1,
        max_entries=10,
        rng=np.random.default_rng(seed),
    )
    row = report[name]
    assert (row.status, row.worst_index) == ("FAIL", entry), row
