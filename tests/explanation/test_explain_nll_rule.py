"""nll_loss's local derivative says what the engine does for its parameters: the division
of the "mean" reduction by the counted weights, the class weights, label smoothing spread
over every class, ignored targets. Each stated factor is checked against torch."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import functional as F

TARGETS = np.array([0, 1, 2, 0])
WEIGHT = np.array([1.0, 2.0, 3.0])

CASES = [
    pytest.param({}, "-. / 4 at t, 0 elsewhere", id="mean"),
    pytest.param({"reduction": "sum"}, "-. at t, 0 elsewhere", id="sum"),
    pytest.param({"weight": WEIGHT}, "-w[t] . / 7 at t, 0 elsewhere", id="weighted mean"),
    pytest.param(
        {"ignore_index": 2},
        "-. / 3 at t (0 for targets = ignore_index 2), 0 elsewhere",
        id="ignored target",
    ),
    pytest.param(
        {"label_smoothing": 0.1},
        "-0.9 . / 4 at t, plus -0.1 / 3 . / 4 at every class",
        id="label smoothing",
    ),
]


def _torch_gradient(torch: ModuleType, log_probs: np.ndarray, options: dict[str, Any]) -> Any:
    """dloss/d(log-probabilities) of torch's nll_loss, with label smoothing written out as
    torch's cross_entropy defines it on log-probabilities."""
    lp = torch.tensor(log_probs, requires_grad=True)
    targets = torch.tensor(TARGETS)
    eps = options.get("label_smoothing", 0.0)
    nll = torch.nn.functional.nll_loss(
        lp,
        targets,
        reduction=options.get("reduction", "mean"),
        ignore_index=options.get("ignore_index", -100),
        weight=None if "weight" not in options else torch.tensor(options["weight"]),
    )
    smooth = -lp.sum(dim=1).mean() / lp.shape[1]
    ((1 - eps) * nll + eps * smooth).backward()
    return lp.grad.numpy()


def _stated_gradient(options: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """The gradient the expected rule text states, for an upstream gradient of 1."""
    eps = options.get("label_smoothing", 0.0)
    weight = options.get("weight", np.ones(shape[1]))
    counted = np.not_equal(TARGETS, options.get("ignore_index", -100))
    picked = weight[np.where(counted, TARGETS, 0)] * counted
    divisor = picked.sum() if options.get("reduction", "mean") == "mean" else 1.0
    gradient = np.zeros(shape)
    gradient[np.arange(shape[0]), TARGETS] = -(1 - eps) * picked
    gradient -= eps * weight / shape[1]
    return gradient / divisor


@pytest.mark.parametrize(("options", "rule"), CASES)
def test_the_nll_rule_states_the_engines_gradient(
    torch: ModuleType, options: dict[str, Any], rule: str
) -> None:
    rng = np.random.default_rng(0)
    logits = chainrule.tensor(rng.normal(size=(4, 3)), requires_grad=True, name="z")
    if "label_smoothing" in options:  # cross_entropy's general path: log_softmax, nll_loss
        loss = F.cross_entropy(logits, TARGETS, **options)
    else:
        loss = F.nll_loss(logits.log_softmax(axis=1), TARGETS, **options)
    links = [link for link in chainrule.explain(loss, logits).links if link.output == "loss"]
    assert [link.rule for link in links] == [rule]
    assert links[0].check.passed
    # the gradient that rule states is torch's, and the engine's where nll_loss takes them
    log_probs = logits.log_softmax(axis=1).data
    stated = _stated_gradient(options, (4, 3))
    np.testing.assert_allclose(stated, _torch_gradient(torch, log_probs, options), atol=1e-15)
    if "label_smoothing" not in options:
        leaf = chainrule.tensor(log_probs, requires_grad=True)
        F.nll_loss(leaf, TARGETS, **options).backward()
        assert leaf.grad is not None
        np.testing.assert_allclose(leaf.grad.data, stated, atol=1e-15)
