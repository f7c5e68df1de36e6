"""A model's parameters read by their path (`0.weight`), as `named_parameters` gives them, in
explain, draw and explore; a cross-entropy link shows its factor's shape (N, C)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import nn
from chainrule.tensor import Tensor


@pytest.fixture
def mlp_loss() -> tuple[nn.Sequential, Tensor]:
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(4, 6, rng=rng),
        nn.ReLU(),
        nn.Linear(6, 5, rng=rng),
        nn.ReLU(),
        nn.Linear(5, 3, rng=rng),
    )
    inputs = chainrule.tensor(rng.normal(size=(8, 4)), name="x")
    loss = chainrule.functional.cross_entropy(model(inputs), rng.integers(0, 3, size=8))
    return model, loss


def test_explain_names_parameters_by_their_path(mlp_loss: tuple[nn.Sequential, Tensor]) -> None:
    model, loss = mlp_loss
    explanation = chainrule.explain(loss, model[0].weight)
    assert [leaf.name for leaf in explanation.leaves] == [
        "x",
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    ]
    assert explanation.wrt == "0.weight"


def test_draw_names_parameters_by_their_path(mlp_loss: tuple[nn.Sequential, Tensor]) -> None:
    model, loss = mlp_loss
    dot = str(chainrule.draw(loss, wrt=model[2].bias))
    assert '"2.bias"' in dot
    assert "leaf" not in dot


def test_explore_names_parameters_by_their_path(mlp_loss: tuple[nn.Sequential, Tensor]) -> None:
    model, loss = mlp_loss
    data = chainrule.explore(loss, wrt=list(model.parameters())).data
    names = {node["name"] for node in data["nodes"]}
    assert {name for name, _ in model.named_parameters()} <= names


def test_a_name_the_user_gave_is_kept() -> None:
    rng = np.random.default_rng(0)
    layer = nn.Linear(2, 2, rng=rng)
    layer.weight.name = "W"
    layer(chainrule.tensor(np.ones((1, 2))))
    assert (layer.weight.name, layer.bias.name) == ("W", "bias")


def test_cross_entropy_link_has_the_shape_of_the_logits(
    mlp_loss: tuple[nn.Sequential, Tensor],
) -> None:
    model, loss = mlp_loss
    link = chainrule.explain(loss, model[4].weight).links[0]
    assert link.kind == "elementwise"
    assert link.shape == (8, 3)
    assert "(8, 3), element-wise" in str(chainrule.explain(loss, model[4].weight))


def test_a_parameter_added_after_the_first_call_is_named_on_the_next() -> None:
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(2, 2, rng=rng))
    inputs = chainrule.tensor(rng.normal(size=(3, 2)))
    model(inputs)
    model[0].scale = nn.Parameter(np.ones(2))
    assert model[0].scale.name is None
    model(inputs)
    assert model[0].scale.name == "0.scale"
