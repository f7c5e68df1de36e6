"""A flat optimizer step counts one in-place change per parameter, as the per-parameter step
does (and as torch.optim's in-place update bumps `param._version`), through the version
counters it keeps across steps."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def _flat_model() -> tuple[nn.Module, optim.SGD]:
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng))
    model.flatten_parameters()
    return model, optim.SGD(model.parameters(), lr=0.1)


def _backward(model: nn.Module) -> None:
    x = cr.tensor(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
    model(x).sum().backward()


def test_each_flat_step_bumps_every_parameter_version_by_one() -> None:
    model, optimizer = _flat_model()
    params = list(model.parameters())
    for _ in range(3):
        optimizer.zero_grad()
        _backward(model)
        before = [param.version for param in params]
        optimizer.step()
        assert [param.version for param in params] == [version + 1 for version in before]


def test_graph_saved_before_a_flat_step_refuses_backward_after_it() -> None:
    # As PyTorch's test_autograd checks for in-place changes of saved tensors: the weight
    # saved by the product is changed by the step, so backward through it stops.
    model, optimizer = _flat_model()
    optimizer.zero_grad()
    _backward(model)
    optimizer.step()  # the counters are kept from here
    weight = next(iter(model.parameters()))
    stale = (weight * weight).sum()
    optimizer.zero_grad()
    _backward(model)
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified"):
        stale.backward()
