"""huber_loss and smooth_l1_loss against torch.nn.functional for a large delta / beta: the
input gradient is clip(input - target, -delta, delta) to the last digit, not a sum of two
terms of size delta that cancel (which lost up to 0.07% in float32 at delta = 1e3)."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from chainrule import Tensor
from chainrule import functional as F

CASES = [
    ("huber_loss", F.huber_loss, TF.huber_loss, "delta"),
    ("smooth_l1_loss", F.smooth_l1_loss, TF.smooth_l1_loss, "beta"),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "knob"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(
    ("dtype", "size", "tolerance"),
    [(np.float32, 1e3, 1e-6), (np.float64, 1e8, 1e-14)],
    ids=["float32", "float64"],
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradient_matches_torch_for_a_large_delta(
    name: str,
    ours: Callable[..., Tensor],
    theirs: Callable[..., Any],
    knob: str,
    dtype: type,
    size: float,
    tolerance: float,
    reduction: str,
) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4)).astype(dtype)
    y = rng.standard_normal((3, 4)).astype(dtype)
    upstream = rng.standard_normal((3, 4) if reduction == "none" else ()).astype(dtype)
    mine_x, mine_y = Tensor(x, requires_grad=True), Tensor(y, requires_grad=True)
    loss = ours(mine_x, mine_y, reduction=reduction, **{knob: size})
    (loss * Tensor(upstream)).sum().backward()
    torch_x = torch.tensor(x, requires_grad=True)
    torch_y = torch.tensor(y, requires_grad=True)
    expected = theirs(torch_x, torch_y, reduction=reduction, **{knob: size})
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=tolerance)
    assert mine_x.grad is not None
    assert mine_y.grad is not None
    assert torch_x.grad is not None
    assert torch_y.grad is not None
    np.testing.assert_allclose(mine_x.grad.numpy(), torch_x.grad.numpy(), rtol=tolerance)
    np.testing.assert_allclose(mine_y.grad.numpy(), torch_y.grad.numpy(), rtol=tolerance)
