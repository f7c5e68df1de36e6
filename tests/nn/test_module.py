"""Module: registration and naming, traversal, zero_grad, train/eval, state dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn
from chainrule.tensor import Tensor


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.layers = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        self.norm = nn.BatchNorm1d(2)

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = self.norm(self.layers(x * self.scale))
        return result


def test_named_parameters_are_dotted_and_in_registration_order() -> None:
    names = [name for name, _ in Block().named_parameters()]
    assert names == [
        "scale",
        "layers.0.weight",
        "layers.0.bias",
        "layers.2.weight",
        "layers.2.bias",
        "norm.weight",
        "norm.bias",
    ]


def test_parameters_lists_each_shared_parameter_once() -> None:
    model = nn.Module()
    model.first = nn.Linear(2, 2)
    model.again = model.first
    assert len(list(model.parameters())) == 2


def test_children_and_modules() -> None:
    block = Block()
    assert [type(m).__name__ for m in block.children()] == ["Sequential", "BatchNorm1d"]
    assert [type(m).__name__ for m in block.modules()] == [
        "Block",
        "Sequential",
        "Linear",
        "ReLU",
        "Linear",
        "BatchNorm1d",
    ]


def test_plain_attributes_are_not_registered() -> None:
    model = nn.Module()
    model.note = "text"
    model.array = np.zeros(2)
    assert list(model.named_parameters()) == []
    assert model.note == "text"


def test_reassigning_a_parameter_with_a_tensor_is_a_type_error() -> None:
    layer = nn.Linear(2, 3)
    with pytest.raises(TypeError, match=r"Linear\.weight is a parameter; assign a Parameter"):
        layer.weight = chainrule.tensor(np.zeros((2, 3)))


def test_assigning_before_init_names_the_fix() -> None:
    class Forgetful(nn.Module):
        def __init__(self) -> None:
            self.weight = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match=r"call super\(\)\.__init__\(\) first"):
        Forgetful()


def test_calling_a_module_without_forward_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Module has no forward method"):
        nn.Module()(np.zeros(2))


def test_results_of_ops_on_parameters_are_plain_tensors() -> None:
    weight = nn.Parameter(np.ones((2, 2), dtype=np.float32))
    out = (weight * 2).sum()
    out.backward()
    assert type(weight * 2) is Tensor
    assert type(weight.grad) is Tensor
    assert weight.requires_grad
    assert weight.is_leaf


def test_zero_grad_sets_every_grad_to_none() -> None:
    block = Block()
    block(np.ones((4, 3), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


def test_train_and_eval_set_the_flag_on_every_module() -> None:
    block = Block()
    assert block.eval() is block
    assert not any(m.training for m in block.modules())
    block.train()
    assert all(m.training for m in block.modules())


def test_train_rejects_a_non_bool_mode() -> None:
    with pytest.raises(TypeError, match="mode must be True or False"):
        Block().train("eval")


def test_state_dict_holds_parameters_and_buffers_as_copies() -> None:
    block = Block()
    state = block.state_dict()
    assert list(state) == [
        "scale",
        "layers.0.weight",
        "layers.0.bias",
        "layers.2.weight",
        "layers.2.bias",
        "norm.weight",
        "norm.bias",
        "norm.running_mean",
        "norm.running_var",
        "norm.num_batches_tracked",
    ]
    assert all(isinstance(value, np.ndarray) for value in state.values())
    state["scale"][:] = 7
    assert np.all(block.scale.data == 1)


def test_state_dict_roundtrip_reproduces_the_outputs() -> None:
    source, target = Block(), Block()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    source(x)
    source.eval()
    target.eval()
    target.load_state_dict(source.state_dict())
    expected, got = source(x).numpy(), target(x).numpy()
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_load_state_dict_keeps_the_parameter_dtype() -> None:
    layer = nn.Linear(2, 3)
    state = {key: value.astype(np.float64) for key, value in layer.state_dict().items()}
    layer.load_state_dict(state)
    assert layer.weight.dtype == np.float32


def test_load_state_dict_names_missing_keys() -> None:
    state = nn.Linear(2, 3).state_dict()
    del state["bias"]
    with pytest.raises(ValueError, match=r"missing keys: bias"):
        nn.Linear(2, 3).load_state_dict(state)


def test_load_state_dict_names_unexpected_keys() -> None:
    state = nn.Linear(2, 3).state_dict()
    state["extra.weight"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"unexpected keys: extra\.weight"):
        nn.Linear(2, 3).load_state_dict(state)


def test_load_state_dict_names_mis_shaped_keys_with_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"weight: expected shape \(2, 3\), got \(3, 2\)"):
        nn.Linear(2, 3).load_state_dict(nn.Linear(3, 2).state_dict())


def test_load_state_dict_changes_nothing_when_it_fails() -> None:
    layer = nn.Linear(2, 3)
    before = layer.weight.data.copy()
    state = {"weight": np.zeros((2, 3)), "bias": np.zeros(4)}
    with pytest.raises(ValueError, match="mis-shaped"):
        layer.load_state_dict(state)
    np.testing.assert_array_equal(layer.weight.data, before)


def test_load_state_dict_non_strict_reports_the_skipped_keys() -> None:
    layer = nn.Linear(2, 3)
    state = {"weight": np.zeros((2, 3)), "other": np.zeros(1)}
    result = layer.load_state_dict(state, strict=False)
    assert result.missing_keys == ["bias"]
    assert result.unexpected_keys == ["other"]
    assert np.all(layer.weight.data == 0)


def test_repr_shows_the_tree() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert repr(model) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)"
    )


def test_zero_grad_without_set_to_none_zeroes_in_place() -> None:
    block = Block()
    block(np.ones((4, 3), dtype=np.float32)).sum().backward()
    grads = [p.grad for p in block.parameters()]
    block.zero_grad(set_to_none=False)
    for parameter, grad in zip(block.parameters(), grads, strict=True):
        assert parameter.grad is grad
        np.testing.assert_array_equal(grad.numpy(), np.zeros(parameter.shape))


def test_zero_grad_in_place_makes_a_penalty_on_the_recorded_grad_unusable() -> None:
    block = Block()
    (block(np.ones((4, 3), dtype=np.float32)) ** 3).sum().backward(create_graph=True)
    penalty = sum((p.grad * p.grad).sum() for p in block.parameters())
    block.zero_grad(set_to_none=False)
    with pytest.raises(RuntimeError, match="modified in place"):
        penalty.backward()


class TwoWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Parameter(np.zeros(2))
        self.second = nn.Parameter(np.zeros(2))
        self.left = nn.Linear(1, 1)
        self.right = nn.Linear(1, 1)
        self.register_buffer("early", np.zeros(1))
        self.register_buffer("late", np.zeros(1))


def test_reassigning_a_parameter_module_or_buffer_keeps_its_place_in_the_order() -> None:
    # As torch.nn.Module.__setattr__ / register_buffer: a name already registered keeps its
    # position, so parameters() (what optimizer state is indexed by) does not reorder.
    model = TwoWeights()
    expected = list(model.state_dict())
    model.first = nn.Parameter(np.ones(2))
    model.left = nn.Linear(1, 1)
    model.register_buffer("early", np.ones(1))
    assert list(model.state_dict()) == expected
    assert [name for name, _ in model.named_parameters()][:2] == ["first", "second"]


def test_optimizer_state_follows_its_parameter_after_one_is_replaced() -> None:
    # A checkpoint of a fresh model's optimizer, loaded into one whose `first` was replaced
    # (e.g. by pretrained values): each parameter must get its own momentum.
    source = TwoWeights()
    source.first.grad = Tensor(np.array([1.0, 1.0]))
    source.second.grad = Tensor(np.array([5.0, 5.0]))
    saved = chainrule.optim.SGD(source.parameters(), lr=0.1, momentum=0.9)
    saved.step()
    target = TwoWeights()
    target.first = nn.Parameter(np.zeros(2))
    loaded = chainrule.optim.SGD(target.parameters(), lr=0.1, momentum=0.9)
    loaded.load_state_dict(saved.state_dict())
    np.testing.assert_array_equal(loaded.state[target.first]["momentum_buffer"], [1.0, 1.0])
    np.testing.assert_array_equal(loaded.state[target.second]["momentum_buffer"], [5.0, 5.0])


def test_a_linear_weight_in_pytorchs_layout_is_refused_naming_the_transpose() -> None:
    layer = nn.Linear(3, 2)
    state = layer.state_dict()
    state["weight"] = state["weight"].T.copy()  # torch.nn.Linear's (out_features, in_features)
    with pytest.raises(
        ValueError, match=r"weight: expected shape \(3, 2\), got \(2, 3\).*weight\.T"
    ):
        layer.load_state_dict(state)


class _Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sub = nn.Linear(2, 3)
        self.weight = nn.Parameter(np.ones(2))
        self.register_buffer("count", np.zeros(2))


def test_a_submodule_set_to_none_stays_registered_holding_nothing() -> None:
    # As PyTorch (torch.nn.Module.__setattr__ accepts None for a registered child): the
    # name keeps its place, parameters() and state_dict() skip it, a Module fills it again.
    model = _Holder()
    model.sub = None
    assert model.sub is None
    assert list(model._modules) == ["sub"]
    assert [name for name, _ in model.named_parameters()] == ["weight"]
    assert list(model.named_children()) == []
    assert list(model.state_dict()) == ["weight", "count"]
    assert repr(model) == "_Holder(\n  (sub): None\n)"
    model.sub = nn.Linear(2, 3)
    assert list(model.state_dict()) == ["weight", "count", "sub.weight", "sub.bias"]


def test_a_buffer_set_to_none_is_not_saved_nor_loaded() -> None:
    # As PyTorch: a None buffer stays registered and is left out of state_dict; before, it
    # became a 0-d object array, saved as such.
    model = _Holder()
    model.count = None
    assert model.count is None
    assert list(model.state_dict()) == ["weight", "sub.weight", "sub.bias"]
    assert [name for name, _ in model.named_buffers()] == []
    model.load_state_dict(_Holder().state_dict(), strict=False)
    assert model.count is None


def test_register_buffer_accepts_none() -> None:
    model = nn.Module()
    model.register_buffer("mask", None)
    assert model.mask is None
    assert model.state_dict() == {}


@pytest.mark.parametrize("value", ["text", object()], ids=["str", "object"])
def test_a_buffer_of_anything_but_numbers_is_refused(value: object) -> None:
    model = _Holder()
    with pytest.raises(TypeError, match=r"_Holder\.count is a buffer; assign an array of numbers"):
        model.count = value
    np.testing.assert_array_equal(model.count, np.zeros(2))


def test_a_submodule_set_to_anything_but_a_module_or_none_is_refused() -> None:
    model = _Holder()
    with pytest.raises(TypeError, match=r"_Holder\.sub is a sub-module; assign a Module or None"):
        model.sub = 3


def test_a_sequential_entry_set_to_none_is_passed_over() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    setattr(model, "1", None)
    x = np.array([[-1.0, 2.0]], np.float32)
    assert len(model) == 1
    np.testing.assert_array_equal(model(x).data, model[0](x).data)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("1.num_batches_tracked", "abc", "dtype <U3"),
        ("1.running_mean", np.full(3, 1 + 1j), "dtype complex128"),
    ],
    ids=["string", "complex"],
)
def test_load_state_dict_that_fails_on_a_later_value_changes_nothing(
    key: str, value: object, message: str
) -> None:
    # The values were converted one by one while being copied: a string in the last entry
    # failed after the weights were replaced; a complex one lost its imaginary part with
    # only a warning.
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = model.state_dict()
    state = {name: array + 1 for name, array in before.items()}
    state[key] = value
    with pytest.raises(ValueError, match=f"{key} holds values of {message}.*nothing was loaded"):
        model.load_state_dict(state)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_load_state_dict_casts_float64_values_into_float32_parameters() -> None:
    # As torch's copy_: the parameter keeps its dtype.
    layer = nn.Linear(2, 3)
    state = {name: array.astype(np.float64) + 0.5 for name, array in layer.state_dict().items()}
    layer.load_state_dict(state)
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, state["weight"].astype(np.float32))


class _Shared(nn.Module):
    """One Linear under two names, and a head whose weight is tied to the first layer's."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(2, 2, dtype=np.float64)
        self.again = self.first
        self.head = nn.Linear(2, 2, dtype=np.float64)
        self.head.weight = self.first.weight


def _torch_shared(torch: Any) -> Any:
    class Shared(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = torch.nn.Linear(2, 2)
            self.again = self.first
            self.head = torch.nn.Linear(2, 2)
            self.head.weight = self.first.weight

    return Shared().double()


def test_state_dict_lists_a_shared_module_under_both_names_as_torch(torch: Any) -> None:
    model = _Shared()
    assert list(model.state_dict()) == list(_torch_shared(torch).state_dict())
    assert [name for name, _ in model.named_parameters()] == [
        "first.weight",
        "first.bias",
        "head.bias",
    ]


def test_a_torch_state_with_both_names_of_a_shared_module_loads(torch: Any) -> None:
    reference = _torch_shared(torch)
    model = _Shared()
    model.load_state_dict({key: value.numpy() for key, value in reference.state_dict().items()})
    expected_weight = reference.first.weight.detach().numpy()
    np.testing.assert_array_equal(model.first.weight.numpy(), expected_weight)
    np.testing.assert_array_equal(model.again.bias.numpy(), reference.first.bias.detach().numpy())
    np.testing.assert_array_equal(model.head.weight.numpy(), expected_weight)


def test_a_state_naming_a_shared_module_once_still_loads() -> None:
    source, model = _Shared(), _Shared()
    once = {key: value for key, value in source.state_dict().items() if "again." not in key}
    assert model.load_state_dict(once) == ([], [])
    np.testing.assert_array_equal(model.again.weight.numpy(), source.first.weight.numpy())


@pytest.mark.parametrize("key", ["again.bias", "head.weight"])
def test_two_names_of_one_parameter_holding_different_values_are_refused(key: str) -> None:
    # torch keeps whichever key comes later: a guess between two trained values.
    model = _Shared()
    before = model.state_dict()
    state = {name: value.copy() for name, value in before.items()}
    state[key] = state[key] + 1.0
    with pytest.raises(ValueError, match=r"name the same parameter or buffer .* nothing was"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
