"""The eager step's lean paths (issue 15): NumPy work it no longer repeats, and the results
that must stay the same while it does less.

On the benchmark's small workloads each NumPy call costs microseconds whatever the array's
size, so calls are counted here, deterministically; timings belong in benchmarks/.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn
from chainrule import primitives as P
from chainrule.primitives import loss as loss_rules


class _CountedReduction:
    """A ufunc whose `reduce` calls over one array are counted (NumPy's ufuncs take no new
    attributes)."""

    def __init__(self, ufunc: np.ufunc, counts: dict[str, int], watched: np.ndarray) -> None:
        self.ufunc = ufunc
        self.counts = counts
        self.watched = watched

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        if args[0] is self.watched:
            self.counts[self.ufunc.__name__] += 1
        return self.ufunc.reduce(*args, **kwargs)


def _count_target_reductions(
    monkeypatch: pytest.MonkeyPatch, targets: np.ndarray
) -> dict[str, int]:
    """Reductions of `targets` by functional.cross_entropy and by the fused node's rule."""
    counts = {"minimum": 0, "maximum": 0}
    counted = {
        name: _CountedReduction(getattr(np, name), counts, targets)
        for name in ("minimum", "maximum")
    }
    names = {name: getattr(np, name) for name in dir(np) if not name.startswith("__")}
    numpy_seen = SimpleNamespace(**(names | counted))
    monkeypatch.setattr(F, "np", numpy_seen)
    monkeypatch.setattr(loss_rules, "np", numpy_seen)
    return counts


def test_cross_entropy_reduces_the_targets_once_to_check_them_and_choose_the_fused_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Checking the targets and choosing the fused node read the same min and max, once: the
    # node's rule checks them, functional.cross_entropy only when the rule refused them
    # (before, functional reduced them and the rule again, 4 reductions where 2 do).
    rng = np.random.default_rng(0)
    logits = cr.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    targets = rng.integers(0, 4, size=6)
    counts = _count_target_reductions(monkeypatch, targets)
    loss = F.cross_entropy(logits, targets)
    assert counts == {"minimum": 1, "maximum": 1}
    assert loss.grad_fn is not None
    assert loss.grad_fn.primitive.name == "cross_entropy"  # the fused node


def test_cross_entropy_still_refuses_a_target_outside_the_classes() -> None:
    logits = cr.tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.raises(ValueError, match=r"target 7 at index 1 is outside the 4 classes"):
        F.cross_entropy(logits, np.array([0, 7, 1]))


def test_cross_entropy_with_an_ignored_target_takes_the_general_path_and_ignores_it(
    torch: Any,
) -> None:
    rng = np.random.default_rng(1)
    values = rng.standard_normal((5, 3))
    targets = np.array([0, -100, 2, 1, -100])
    logits = cr.tensor(values, requires_grad=True)
    loss = nn.CrossEntropyLoss()(logits, targets)
    assert loss.grad_fn is not None
    assert loss.grad_fn.primitive.name != "cross_entropy"
    loss.backward()
    reference = torch.tensor(values, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(reference, torch.tensor(targets))
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    assert logits.grad is not None
    np.testing.assert_allclose(logits.grad.numpy(), reference.grad.numpy(), rtol=1e-12)


def test_sequential_still_calls_a_child_that_overrides_module_call() -> None:
    # Inside a module call Sequential runs a child's forward directly, but only for children
    # whose class keeps Module.__call__: an overriding __call__ is still run.
    calls: list[int] = []

    class Counted(nn.ReLU):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return super().__call__(*args, **kwargs)

    model = nn.Sequential(nn.Linear(3, 2, rng=np.random.default_rng(0)), Counted())
    model(cr.tensor(np.ones((4, 3), dtype=np.float32)))
    model(cr.tensor(np.ones((4, 3), dtype=np.float32)))
    assert len(calls) == 2


def test_nested_sequential_names_parameters_by_their_full_path_when_called() -> None:
    rng = np.random.default_rng(0)
    inner = nn.Sequential(nn.Linear(3, 2, rng=rng), nn.ReLU())
    model = nn.Sequential(inner, nn.Linear(2, 1, rng=rng))
    model(cr.tensor(np.ones((4, 3), dtype=np.float32)))
    assert [p.name for p in model.parameters()] == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]


def test_a_module_without_forward_inside_sequential_is_refused_by_name() -> None:
    class NoForward(nn.Module):
        pass

    model = nn.Sequential(nn.ReLU(), NoForward())
    with pytest.raises(TypeError, match="NoForward has no forward method"):
        model(cr.tensor(np.ones(3, dtype=np.float32)))


def test_apply_tensors_records_what_apply_records() -> None:
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(2), requires_grad=True)
    direct = cr.Tensor.apply_tensors(P.Linear, (x, w, b), {})
    checked = cr.Tensor.apply(P.Linear, x, w, b)
    np.testing.assert_array_equal(direct.data, checked.data)
    assert direct.grad_fn is not None
    assert checked.grad_fn is not None
    assert direct.grad_fn.primitive is checked.grad_fn.primitive is P.Linear
    assert direct.grad_fn.parents == (x, w, b)
    direct.sum().backward()
    first = [t.grad.data.copy() for t in (x, w, b)]  # type: ignore[union-attr]
    for t in (x, w, b):
        t.grad = None
    checked.sum().backward()
    for before, t in zip(first, (x, w, b), strict=True):
        np.testing.assert_array_equal(before, t.grad.data)  # type: ignore[union-attr]
