"""nn-containers: ModuleList, ModuleDict, ParameterList, ParameterDict, as torch.nn's."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.nn.flat import buffer_of


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


class Tower(nn.Module):
    """Every container in one model, as a torch user would write it."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(2, 3, rng=_rng()), nn.ReLU()])
        self.blocks.append(nn.Linear(3, 4, rng=_rng()))
        self.heads = nn.ModuleDict({"emb": nn.Embedding(5, 2, rng=_rng())})
        self.heads["norm"] = nn.LayerNorm(4)
        self.scales = nn.ParameterList([np.ones(3, np.float32)])
        self.scales.append(np.ones((2, 2), np.float32))
        self.gains = nn.ParameterDict({"alpha": np.ones(1, np.float32)})

    def forward(self, x: Any) -> Any:
        for block in self.blocks:
            x = block(x)
        return self.heads["norm"](x) * self.gains["alpha"]


def _torch_tower(torch: ModuleType) -> Any:
    tnn = torch.nn

    class TorchTower(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = tnn.ModuleList([tnn.Linear(2, 3), tnn.ReLU()])
            self.blocks.append(tnn.Linear(3, 4))
            self.heads = tnn.ModuleDict({"emb": tnn.Embedding(5, 2)})
            self.heads["norm"] = tnn.LayerNorm(4)
            self.scales = tnn.ParameterList([torch.ones(3)])
            self.scales.append(torch.ones(2, 2))
            self.gains = tnn.ParameterDict({"alpha": torch.ones(1)})

    return TorchTower()


def _torch_shape(key: str, shape: tuple[int, ...], model: nn.Module) -> tuple[int, ...]:
    """The shape torch stores for `key`: a Linear weight is the transpose of chainrule's."""
    owner = dict(model.named_modules()).get(key.rsplit(".", 1)[0] if "." in key else "")
    return shape[::-1] if isinstance(owner, nn.Linear) and key.endswith("weight") else shape


def _compare_with_torch(model: nn.Module, reference: Any) -> None:
    ours = model.state_dict()
    theirs = reference.state_dict()
    assert list(ours) == list(theirs)
    for key, value in ours.items():
        assert _torch_shape(key, value.shape, model) == tuple(theirs[key].shape), key
    named = [name for name, _ in model.named_parameters()]
    assert named == [name for name, _ in reference.named_parameters()]


def test_state_dict_keys_and_shapes_are_torchs_for_the_same_structure(torch: ModuleType) -> None:
    _compare_with_torch(Tower(), _torch_tower(torch))


def test_keys_stay_torchs_after_insert_delete_assign_extend_and_pop(torch: ModuleType) -> None:
    model, reference = Tower(), _torch_tower(torch)
    for blocks, tnn, make in ((model.blocks, None, nn), (reference.blocks, torch.nn, torch.nn)):
        blocks.insert(1, make.Tanh())
        blocks.insert(2, make.Linear(3, 3) if tnn else nn.Linear(3, 3, rng=_rng()))
        del blocks[0]
        blocks[0] = make.Sigmoid()
        blocks += [make.LayerNorm(4)]
        blocks.extend([make.ReLU()])
        blocks.pop(-1)
        blocks.pop(1)
    for scales, wrap in ((model.scales, np.zeros), (reference.scales, torch.zeros)):
        scales[0] = wrap(5)  # torch's ParameterList has no insert or del (chainrule's has)
        scales.append(wrap((1, 3)))
        scales += [wrap(2)]
    model.heads.pop("emb")
    reference.heads.pop("emb")
    model.gains.update({"beta": np.zeros(2, np.float32)})
    reference.gains.update({"beta": torch.zeros(2)})
    _compare_with_torch(model, reference)


def test_module_list_indexes_as_torch() -> None:
    first, second, third = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
    layers = nn.ModuleList([first, second, third])
    assert layers[0] is first
    assert layers[-1] is third
    assert layers[-3] is first
    part = layers[1:]
    assert isinstance(part, nn.ModuleList)
    assert list(part) == [second, third]
    assert list(part._modules) == ["0", "1"]  # a new list, numbered from 0 (as torch)
    assert len(layers) == 3
    assert list(layers) == [first, second, third]
    with pytest.raises(IndexError, match=r"ModuleList: index 3 is out of range for 3"):
        layers[3]
    with pytest.raises(IndexError, match=r"index -4 is out of range"):
        layers[-4] = nn.ReLU()
    with pytest.raises(TypeError, match=r"ModuleList: an index must be an int or a slice"):
        layers["0"]
    with pytest.raises(TypeError, match=r"ModuleList.append: every entry must be a Module"):
        layers.append(np.tanh)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ModuleList.extend takes an iterable of Modules"):
        layers.extend(nn.Linear(1, 1))  # type: ignore[arg-type]
    del layers[:2]
    assert list(layers) == [third]
    assert list(layers._modules) == ["0"]
    joined = layers + [first]  # noqa: RUF005  (ModuleList.__add__ under test)
    assert list(joined) == [third, first]
    assert list(layers) == [third]


def test_calling_a_container_is_an_error_naming_the_fix() -> None:
    x = cr.tensor(np.ones((1, 1), np.float32))
    for container in (
        nn.ModuleList([nn.Linear(1, 1)]),
        nn.ModuleDict({"a": nn.Linear(1, 1)}),
        nn.ParameterList([np.ones(1)]),
        nn.ParameterDict({"a": np.ones(1)}),
    ):
        with pytest.raises(NotImplementedError, match=r"has no forward.*nn\.Sequential"):
            container(x)


def test_module_dict_behaves_as_a_dict_in_insertion_order() -> None:
    a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
    heads = nn.ModuleDict([("b", b), ("a", a)])
    heads.update({"c": c, "b": nn.Sigmoid()})  # replacing keeps the place, as dict
    assert list(heads) == ["b", "a", "c"]
    assert heads.keys() == ["b", "a", "c"]
    assert heads.values()[1:] == [a, c]
    assert heads.items()[1] == ("a", a)
    assert "a" in heads
    assert "z" not in heads
    assert 1 not in heads
    assert len(heads) == 3
    assert heads.pop("a") is a
    assert "a" not in heads
    assert list(heads.state_dict()) == []
    with pytest.raises(KeyError, match=r"ModuleDict has no module 'a'; it holds \['b', 'c'\]"):
        heads["a"]
    for bad, error in (("keys", KeyError), ("x.y", KeyError), ("", KeyError), (3, TypeError)):
        with pytest.raises(error, match=r"ModuleDict: (a )?key"):
            heads[bad] = nn.ReLU()  # type: ignore[index]
    with pytest.raises(TypeError, match=r"ModuleDict.update: expected a mapping or"):
        heads.update(["ab"])  # type: ignore[list-item]
    heads.clear()
    assert len(heads) == 0


def test_parameter_containers_wrap_arrays_and_tensors_into_parameters() -> None:
    array = np.arange(3, dtype=np.float32)
    kept = nn.Parameter(np.ones(2, np.float32))
    tensor = cr.tensor(np.ones(4, np.float32), requires_grad=True)
    plist = nn.ParameterList([array, kept, tensor])
    assert all(type(value) is nn.Parameter for value in plist)
    assert plist[1] is kept
    assert plist[2] is not tensor
    assert np.shares_memory(plist[0].data, array)  # a float NumPy array is shared
    assert plist[2].is_leaf
    assert plist[2].requires_grad
    gains = nn.ParameterDict({"a": array})
    gains["b"] = tensor
    assert type(gains["b"]) is nn.Parameter
    assert gains.keys() == ["a", "b"]
    assert list(gains.state_dict()) == ["a", "b"]
    with pytest.raises(TypeError, match=r"ParameterList.append: every entry must be a Param"):
        plist.append(nn.Linear(1, 1))
    with pytest.raises(TypeError, match=r"ParameterDict: every entry must be a Parameter"):
        gains["c"] = [1.0, 2.0]
    with pytest.raises(TypeError, match=r"ParameterList.extend takes an iterable"):
        plist.extend(np.ones(3))
    assert plist[-1:][0] is plist[2]
    assert isinstance(plist[-1:], nn.ParameterList)
    assert gains.pop("a") is not None
    assert list(gains) == ["b"]
    plist.insert(0, np.zeros(1, np.float32))
    del plist[1]
    assert [value.shape for value in plist] == [(1,), (2,), (4,)]
    assert list(plist.state_dict()) == ["0", "1", "2"]
    assert plist.pop(1) is kept


def test_members_added_after_construction_are_trained_by_an_optimizer_built_afterwards() -> None:
    # The point of the containers: what a plain list would silently leave out is trained.
    model = Tower()
    model.blocks.append(nn.Linear(4, 4, rng=_rng()))
    model.gains["beta"] = np.ones(1, np.float32)
    late, beta = model.blocks[-1].weight, model.gains["beta"]
    before = late.data.copy()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32))
    out = model.blocks[-1](model(x)) * beta
    out.sum().backward()
    expected = before - 0.1 * late.grad.data
    opt.step()
    np.testing.assert_allclose(late.data, expected, rtol=1e-6)
    assert {"blocks.3.weight", "gains.beta"} <= set(model.state_dict())


def test_train_eval_to_and_zero_grad_reach_the_members() -> None:
    model = Tower()
    model.blocks.append(nn.Dropout(0.5))
    model.eval()
    assert not model.blocks[-1].training
    assert not model.heads["norm"].training
    model.train()
    assert model.blocks[-1].training
    model.double()
    assert model.scales[1].dtype == np.float64
    assert model.gains["alpha"].dtype == np.float64
    for parameter in model.parameters():
        parameter.grad = cr.tensor(np.ones(parameter.shape, parameter.dtype))
    model.zero_grad()
    assert all(parameter.grad is None for parameter in model.parameters())
    assert model.to("cpu") is model


def test_flat_buffers_take_members_added_before_flattening_and_not_after() -> None:
    # As for Sequential: flatten_parameters places what the model holds when it is called;
    # a parameter added afterwards stays outside and is updated on its own.
    model = nn.ModuleList([nn.Linear(2, 2, rng=_rng())])
    model.append(nn.Linear(2, 2, rng=_rng()))
    model.flatten_parameters()
    assert all(buffer_of(parameter) is not None for parameter in model.parameters())
    model.append(nn.Linear(2, 1, rng=_rng()))
    late = model[-1].weight
    assert buffer_of(late) is None
    opt = optim.SGD(model.parameters(), lr=0.5)
    x = cr.tensor(np.ones((1, 2), np.float32))
    out = x
    for layer in model:
        out = layer(out)
    out.sum().backward()
    expected = late.data - 0.5 * late.grad.data
    first = model[0].weight
    expected_first = first.data - 0.5 * first.grad.data
    opt.step()
    np.testing.assert_allclose(late.data, expected, rtol=1e-6)
    np.testing.assert_allclose(first.data, expected_first, rtol=1e-6)


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 2, rng=_rng())])

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x


def test_a_compiled_step_follows_every_change_to_a_module_list() -> None:
    # A replay of the old structure would be a silent wrong result: compile's guards must
    # see each insert, delete and append, down to deleting the last member.
    model = Stack()

    def step(x: Any) -> Any:
        return model(x).sum()

    compiled = cr.compile(step)
    x = cr.tensor(np.arange(2, dtype=np.float32).reshape(1, 2) + 1)
    changes = [
        lambda: model.layers.append(nn.Linear(2, 2, rng=np.random.default_rng(1))),
        lambda: model.layers.insert(0, nn.Linear(2, 2, rng=np.random.default_rng(2))),
        lambda: model.layers.__delitem__(slice(0, 2)),
        lambda: model.layers.__delitem__(0),
        lambda: model.layers.append(nn.Linear(2, 2, rng=np.random.default_rng(3))),
    ]
    for change in [lambda: None, *changes]:
        change()
        np.testing.assert_array_equal(compiled(x).data, step(x).data)


def test_parameter_dict_get_and_setdefault_as_torch(torch: ModuleType) -> None:
    ours = nn.ParameterDict({"a": np.zeros(1)})
    theirs = torch.nn.ParameterDict({"a": torch.zeros(1)})
    assert type(ours.get("a")) is nn.Parameter
    assert ours.get("missing") is None
    assert ours.get("missing", 5) == theirs.get("missing", 5) == 5
    added, torch_added = ours.setdefault("b", np.ones(2)), theirs.setdefault("b", torch.ones(2))
    assert type(added) is nn.Parameter
    assert type(torch_added) is torch.nn.Parameter
    assert ours.setdefault("b", np.zeros(3)) is added  # kept, not replaced
    np.testing.assert_array_equal(added.numpy(), np.ones(2))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["a", "b"]
