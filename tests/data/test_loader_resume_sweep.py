"""DataLoader resume, swept: random sequences of `iter()` and `next()` (early breaks, two
iterators in one epoch, a state taken after the last batch but before StopIteration), a
state saved after any step and restored into a fresh loader seeded otherwise. The restored
loader must hand out exactly the batches the uninterrupted one does from there on."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader

ITER, NEXT = "iter", "next"


@dataclass(frozen=True)
class Case:
    samples: int
    batch_size: int
    shuffle: bool
    drop_last: bool
    steps: tuple[str, ...]
    save_after: int


def _cases(count: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        samples, batch_size = int(rng.integers(1, 12)), int(rng.integers(1, 6))
        drop_last = bool(rng.integers(2))
        if drop_last and batch_size > samples:
            continue
        steps = [ITER] + [
            ITER if rng.random() < 0.15 else NEXT for _ in range(int(rng.integers(1, 20)))
        ]
        cases.append(
            Case(
                samples,
                batch_size,
                bool(rng.integers(2)),
                drop_last,
                tuple(steps),
                int(rng.integers(0, len(steps) - 1)),
            )
        )
    return cases


def _loader(case: Case, seed: int) -> DataLoader:
    return DataLoader(
        ArrayDataset(np.arange(case.samples)),
        batch_size=case.batch_size,
        shuffle=case.shuffle,
        drop_last=case.drop_last,
        rng=np.random.default_rng(seed),
    )


def _run(loader: DataLoader, steps: tuple[str, ...]) -> list[list[int]]:
    """The batches each NEXT step gets (an exhausted iterator's NEXT gets none)."""
    batches: list[list[int]] = []
    iterator = None
    for step in steps:
        if step == ITER:
            iterator = iter(loader)
        else:
            assert iterator is not None
            batch = next(iterator, None)
            if batch is not None:
                batches.append(batch[0].tolist())
    return batches


@pytest.mark.parametrize("case", _cases(300, seed=2026))
def test_a_state_saved_after_any_step_resumes_the_same_batches(case: Case) -> None:
    before, after = case.steps[: case.save_after + 1], case.steps[case.save_after + 1 :]
    interrupted = _loader(case, seed=7)
    seen = _run(interrupted, before)
    state = json.loads(json.dumps(interrupted.state_dict()))
    straight = _run(_loader(case, seed=7), case.steps)[len(seen) :]

    # A fresh process has no live iterator: it calls iter() once, which continues the saved
    # epoch, and its NEXT steps up to the following ITER continue it. An iterator that had
    # handed out its whole epoch left nothing to continue; the state is the next epoch's.
    since_iter = len(before) - 1 - before[::-1].index(ITER)
    live_done = before[since_iter:].count(NEXT) >= len(interrupted)
    resumed = _loader(case, seed=99)
    resumed.load_state_dict(state)
    if live_done:
        remaining = after[after.index(ITER) :] if ITER in after else ()
    else:
        remaining = (ITER, *after)
    assert _run(resumed, remaining) == straight
