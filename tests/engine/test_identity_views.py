"""A view that changes nothing (x.T of a 1-D tensor, an identity transpose, swapaxes of a
0-d tensor, broadcast_to its own shape) is a new tensor over the same memory, as in PyTorch
2.13, not the input itself: what is done to the view in place (detach_(), a new name) must
not happen to its base."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

IDENTITY_VIEWS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "T of 1-D": (lambda x: x.T, lambda x: x.T),
    "transpose(0) of 1-D": (lambda x: x.transpose(0), lambda x: x.permute(0)),
    "swapaxes of 0-d": (lambda x: x.swapaxes(0, -1), lambda x: x.transpose(0, -1)),
    "broadcast_to own shape": (lambda x: x.broadcast_to(x.shape), lambda x: x.expand(x.shape)),
}


def _computed(lib: Any, name: str) -> tuple[Any, Any]:
    """A leaf w and x = 2 w (summed to 0-d for swapaxes), in chainrule or torch."""
    values = np.array([0.5, -1.0, 2.0])
    if lib is torch:
        w = torch.tensor(values, requires_grad=True)
    else:
        w = cr.tensor(values, requires_grad=True)
    x = w * 2
    return w, (x.sum() if "0-d" in name else x)


@pytest.mark.filterwarnings("ignore:The use of `x.T` on tensors of dimension other than 2")
@pytest.mark.parametrize("name", list(IDENTITY_VIEWS))
def test_detach_in_place_of_an_identity_view_is_refused_as_torch(name: str) -> None:
    ours, theirs = IDENTITY_VIEWS[name]
    tw, tx = _computed(torch, name)
    with pytest.raises(RuntimeError, match="view"):
        theirs(tx).detach_()
    (tx * tx).sum().backward()
    w, x = _computed(cr, name)
    view = ours(x)
    assert view is not x
    # Before: the view was x itself, so detach_() silently cut x from the graph and the
    # loss below lost its gradient to w.
    with pytest.raises(RuntimeError, match=r"detach_: .*view.*\.detach\(\)"):
        view.detach_()
    (x * x).sum().backward()
    assert w.grad is not None
    assert tw.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:The use of `x.T` on tensors of dimension other than 2")
@pytest.mark.parametrize("name", list(IDENTITY_VIEWS))
def test_identity_view_shares_memory_and_gradient_as_torch(name: str) -> None:
    ours, theirs = IDENTITY_VIEWS[name]
    tw, tx = _computed(torch, name)
    (theirs(tx) ** 3).sum().backward()
    w, x = _computed(cr, name)
    view = ours(x)
    assert np.shares_memory(view.data, x.data)
    (view**3).sum().backward()
    assert w.grad is not None
    assert tw.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
