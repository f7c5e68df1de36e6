"""Eager backward writes a flat parameter's first gradient straight into its slice of the
flat gradient buffer (the product's kernel given the slice as `out`), bit-identically to
parameters on their own."""

from __future__ import annotations

import tracemalloc

import numpy as np

import chainrule as cr
from chainrule import functional as F
from chainrule.graph import grad_slot
from chainrule.nn.flat import flatten_parameters
from chainrule.tensor import Tensor


def _params(seed: int, dtype: type = np.float64) -> list[Tensor]:
    rng = np.random.default_rng(seed)
    return [
        cr.tensor(rng.standard_normal((5, 5)).astype(dtype), requires_grad=True),
        cr.tensor(rng.standard_normal(5).astype(dtype), requires_grad=True),
        cr.tensor(rng.standard_normal((5, 2)).astype(dtype), requires_grad=True),
    ]


def _tied_loss(params: list[Tensor], x: np.ndarray) -> Tensor:
    """The square layer twice (weight and bias read twice), then a matmul head."""
    weight, bias, head = params
    hidden = F.linear(F.linear(Tensor(x), weight, bias).relu(), weight, bias).relu()
    return ((hidden @ head) ** 2).mean()


def test_flat_parameter_read_twice_gets_the_per_parameter_gradient_bit_for_bit() -> None:
    x = np.random.default_rng(1).standard_normal((4, 5))
    alone, flat = _params(7), _params(7)
    flatten_parameters(flat)
    _tied_loss(alone, x).backward()
    _tied_loss(flat, x).backward()
    for expected, got in zip(alone, flat, strict=True):
        assert got.grad is not None
        assert expected.grad is not None
        assert got.grad.data is grad_slot(got)
        assert np.array_equal(got.grad.data, expected.grad.data)


def test_backward_writes_a_flat_weight_gradient_without_a_temporary_of_its_size() -> None:
    rng = np.random.default_rng(2)
    weight = cr.tensor(rng.standard_normal((400, 300), dtype=np.float32), requires_grad=True)
    bias = cr.tensor(np.zeros(300, np.float32), requires_grad=True)
    flatten_parameters([weight, bias])
    x = rng.standard_normal((8, 400), dtype=np.float32)
    loss = (F.linear(x, weight, bias) ** 2).mean()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert weight.grad is not None
    assert weight.grad.data is grad_slot(weight)
    assert peak - start < weight.data.nbytes // 4
