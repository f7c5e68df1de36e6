"""`DataParallel` over whole training runs on in-process ranks: uneven shards of a
`DistributedSampler`, several optimizers, clipping, flat parameters; every rank ends with one
process's parameters (float64, to rounding) and all ranks with the same ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from thread_ranks import ThreadRank, run_ranks

from chainrule import distributed, nn, optim
from chainrule.data import ArrayDataset
from chainrule.tensor import Tensor

SAMPLES, BATCH = 13, 5  # shards of 3 and 2 rows, then a last batch split 2 and 1
X = np.random.default_rng(1).standard_normal((SAMPLES, 4))
LABELS = np.random.default_rng(2).integers(0, 3, SAMPLES)
TARGETS = np.random.default_rng(3).standard_normal((SAMPLES, 3))


def model(flat: bool) -> nn.Sequential:
    rng = np.random.default_rng(0)
    network = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    for param in network.parameters():
        param.data[...] = rng.standard_normal(param.data.shape)
    if flat:
        network.flatten_parameters()
    return network


OPTIMIZERS = {
    "sgd": lambda params: optim.SGD(params, lr=0.1),
    "nesterov": lambda params: optim.SGD(
        params, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True
    ),
    "adam": lambda params: optim.Adam(params, lr=0.01),
    "adamw-amsgrad": lambda params: optim.AdamW(params, lr=0.01, amsgrad=True),
}


def loss_of(kind: str, output: Tensor, rows: np.ndarray) -> Tensor:
    if kind == "cross-entropy":
        return nn.CrossEntropyLoss()(output, Tensor(LABELS[rows]))
    return nn.MSELoss()(output, Tensor(TARGETS[rows]))


def train(comm: ThreadRank | None, flat: bool, name: str, kind: str, clip: bool) -> list[Any]:
    network = model(flat)
    optimizer = OPTIMIZERS[name](list(network.parameters()))
    parallel = (
        None if comm is None else distributed.DataParallel(network.parameters(), optimizer, comm)
    )
    sampler = distributed.DistributedSampler(
        ArrayDataset(np.arange(SAMPLES)),
        BATCH,
        rank=0 if comm is None else comm.rank,
        size=1 if comm is None else comm.size,
        shuffle=True,
        rng=np.random.default_rng(7),
    )
    for _ in range(2):
        for (rows,) in sampler:
            if parallel is not None:
                parallel.samples = len(rows)
            optimizer.zero_grad()
            loss_of(kind, network(Tensor(X[rows])), rows).backward()
            if clip:
                nn.utils.clip_grad_norm_(network.parameters(), 0.5)
            optimizer.step()
    if parallel is not None:
        parallel.detach()
    return [param.numpy().copy() for param in network.parameters()]


@pytest.mark.parametrize("flat", [False, True], ids=["separate", "flat"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["cross-entropy", "mse"])
@pytest.mark.parametrize("clip", [False, True], ids=["", "clipped"])
def test_uneven_shards_train_like_one_process(flat: bool, name: str, kind: str, clip: bool) -> None:
    expected = train(None, flat, name, kind, clip)
    ranks = run_ranks(2, lambda comm: train(comm, flat, name, kind, clip))
    for got in ranks:
        for param, reference in zip(got, expected, strict=True):
            assert param.shape == reference.shape
            assert param.dtype == np.float64
            np.testing.assert_allclose(param, reference, rtol=1e-12, atol=1e-14)
    for got in ranks[1:]:
        for param, first in zip(got, ranks[0], strict=True):
            np.testing.assert_array_equal(param, first)


def test_a_class_weighted_mean_is_exact_with_its_weight_sum_as_samples() -> None:
    """CrossEntropyLoss(weight, ignore_index) divides by the kept targets' weights: passing
    that sum as `samples` gives one process's gradient (the row count would not)."""
    x = np.random.default_rng(1).standard_normal((7, 4))
    labels = np.array([0, 2, 1, -100, 2, 2, 0])
    weight = np.array([0.5, 2.0, 3.0])
    shards = [np.arange(4), np.arange(4, 7)]

    def gradient(comm: ThreadRank | None, by_weight: bool) -> np.ndarray:
        layer = nn.Linear(4, 3).double()
        rng = np.random.default_rng(0)
        for param in layer.parameters():
            param.data[...] = rng.standard_normal(param.shape)
        rows = np.arange(7) if comm is None else shards[comm.rank]
        layer.zero_grad()
        nn.CrossEntropyLoss(weight=weight)(layer(Tensor(x[rows])), Tensor(labels[rows])).backward()
        if comm is not None:
            kept = labels[rows][labels[rows] != -100]
            samples = float(weight[kept].sum()) if by_weight else len(rows)
            distributed.allreduce_grads(layer.parameters(), comm, samples=samples)
        return layer.weight.grad.numpy().copy()

    expected = gradient(None, by_weight=False)
    for got in run_ranks(2, lambda comm: gradient(comm, by_weight=True)):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    by_rows = run_ranks(2, lambda comm: gradient(comm, by_weight=False))[0]
    assert not np.allclose(by_rows, expected, rtol=1e-6)
