"""Review nn-review: Module registration where PyTorch silently leaves parameters out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


class ListOfLayers(nn.Module):
    """The pattern of a learner without ModuleList: layers kept in a plain list."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = [nn.Linear(2, 3), nn.Linear(3, 1)]

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x


def test_a_list_of_layers_is_refused_naming_module_list_and_sequential() -> None:
    # Was silent: parameters() was empty, so SGD(model.parameters()) trained nothing and
    # state_dict() saved nothing (torch leaves the list unregistered the same way).
    with pytest.raises(TypeError, match=r"ListOfLayers\.layers: a list holding modules") as err:
        ListOfLayers()
    assert "nn.ModuleList(layers)" in str(err.value)
    assert "nn.Sequential(*layers)" in str(err.value)


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        (lambda: {"encoder": nn.Linear(2, 2)}, "nn.ModuleDict(extra)"),
        (lambda: [nn.Parameter(np.zeros(3))], "nn.ParameterList(extra)"),
        (lambda: {"scale": nn.Parameter(np.zeros(3))}, "nn.ParameterDict(extra)"),
        (lambda: [cr.tensor(np.zeros(3), requires_grad=True)], "nn.ParameterList(extra)"),
        (lambda: (nn.ReLU(), nn.Parameter(np.ones(2))), "an nn.ModuleList or nn.ModuleDict"),
    ],
)
def test_the_refusal_names_the_container_that_registers_them(value: Any, fix: str) -> None:
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="not registered") as err:
        model.extra = value()
    assert fix in str(err.value)


def test_the_container_the_refusal_names_registers_what_was_refused() -> None:
    model = nn.Linear(2, 2)
    model.extra = nn.ModuleDict({"encoder": nn.Linear(2, 2)})
    model.scales = nn.ParameterList([nn.Parameter(np.zeros(3))])
    assert "extra.encoder.weight" in model.state_dict()
    assert "scales.0" in model.state_dict()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (lambda: (nn.Linear(2, 2),), "tuple"),
        (lambda: {"encoder": nn.Linear(2, 2)}, "dict"),
        (lambda: [nn.Parameter(np.zeros(3))], "list"),
        (lambda: (nn.ReLU(), nn.Parameter(np.ones(2))), "tuple"),
    ],
)
def test_tuples_dicts_and_lists_of_parameters_are_refused_too(value: Any, kind: str) -> None:
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=rf"Linear\.extra: a {kind} holding .* not registered"):
        model.extra = value()
    assert "extra" not in model.__dict__


def test_a_list_of_what_the_module_already_holds_is_kept() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    model.linears = [model[0], model[2]]
    model.weights = (model[0].weight,)
    model.plain = [1, 2.0, "three", np.zeros(2)]
    assert model.linears[1] is model[2]
    assert len(list(model.parameters())) == 4


def test_a_sequential_in_place_of_the_list_trains_every_layer() -> None:
    class Layers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))

        def forward(self, x: Any) -> Any:
            for layer in self.layers:
                x = layer(x)
            return x

    model = Layers()
    before = {name: value.copy() for name, value in model.state_dict().items()}
    assert list(before) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    sgd = optim.SGD(model.parameters(), lr=0.1)
    model(cr.tensor(np.ones((4, 2), dtype=np.float32))).sum().backward()
    sgd.step()
    assert all(not np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_the_plain_reference_stays_possible_on_purpose() -> None:
    model = nn.Linear(2, 2)
    elsewhere = nn.Linear(2, 2)
    object.__setattr__(model, "peers", [elsewhere])
    assert model.peers == [elsewhere]
    assert len(list(model.parameters())) == 2


class TensorWeight(nn.Module):
    """A weight made with cr.tensor(..., requires_grad=True) instead of nn.Parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = cr.tensor(np.ones((2, 2)), requires_grad=True)

    def forward(self, x: Any) -> Any:
        return x @ self.weight


def test_a_tensor_that_requires_grad_is_refused_naming_parameter() -> None:
    # Was silent: parameters() and state_dict() were empty, so the optimizer left it as it was.
    with pytest.raises(TypeError, match=r"TensorWeight\.weight: a Tensor that requires grad"):
        TensorWeight()
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"a list holding tensors that require grad"):
        model.extras = [cr.tensor(np.zeros(2), requires_grad=True)]


def test_constant_tensors_and_results_of_ops_stay_plain_attributes() -> None:
    model = nn.Linear(2, 2)
    model.offset = cr.tensor(np.zeros(2))
    leaf = cr.tensor(np.ones(2), requires_grad=True)
    model.last = leaf * 2  # not a leaf: a result kept for inspection
    model.frozen = leaf.detach()
    model.added_later = nn.Parameter(np.zeros(2))  # a Parameter still registers
    assert [name for name, _ in model.named_parameters()] == ["weight", "bias", "added_later"]


def test_a_forward_may_keep_what_it_computed() -> None:
    class Keeps(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, x: Any) -> Any:
            self.seen = [x]  # inputs that require grad, kept by a forward: not checked
            return self.linear(x)

    x = cr.tensor(np.ones((1, 2), dtype=np.float32), requires_grad=True)
    model = Keeps()
    model(x)
    assert model.seen[0] is x


class AppendedLayers(nn.Module):
    """The list assigned empty, then filled: the assignment's check saw nothing to refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = []
        for width in (3, 1):
            self.layers.append(nn.Linear(2 if width == 3 else 3, width))

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x


def test_layers_appended_to_a_list_after_it_was_assigned_are_refused_at_the_first_call() -> None:
    # Was silent: the model ran and trained nothing (parameters() empty).
    model = AppendedLayers()
    with pytest.raises(TypeError, match=r"AppendedLayers\.layers: a list holding modules"):
        model(cr.tensor(np.ones((4, 2), dtype=np.float32)))


def test_a_nested_module_with_an_appended_dict_is_refused_from_its_parent() -> None:
    inner = nn.Linear(2, 2)
    inner.heads = {}
    inner.heads["extra"] = nn.Linear(2, 2)
    model = nn.Sequential(inner)
    with pytest.raises(TypeError, match=r"Linear\.heads: a dict holding modules"):
        model(cr.tensor(np.ones((1, 2), dtype=np.float32)))


def test_a_list_filled_with_what_the_module_holds_or_with_numbers_still_runs() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    model.order = []
    model.order.append(model[1])
    model.widths = []
    model.widths.append(3)
    out = model(cr.tensor(np.ones((4, 2), dtype=np.float32)))
    assert out.shape == (4, 1)
