"""A dict that a transform returns (a gradient, an output, a Jacobian, an aux value) lists its
keys in the order the function's own dict did, as torch.func's results do, so pairing a
gradient's values with the argument's values pairs each leaf with its own gradient. Leaves are
still flattened in sorted-key order, and dicts of one key set match in any order."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule.pytree import tree_flatten, tree_unflatten

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(7)
# Keys deliberately not in sorted order, and two leaves of one shape, so a mismatched pairing
# would go through a shape check unnoticed.
PARAMS = {"w": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(2,)), "a": RNG.normal(size=(2,))}
X = RNG.normal(size=(4, 3))


def loss(params, x):
    hidden = x @ params["w"] + params["b"]
    return (hidden * hidden * params["a"]).sum()


def outputs(params):
    return {"z": params["b"] * 2.0, "y": (params["w"] ** 2).sum()}


def torch_params(torch: ModuleType) -> dict:
    return {key: torch.tensor(value) for key, value in PARAMS.items()}


def test_unflatten_rebuilds_a_dict_in_its_own_key_order_and_leaves_stay_sorted() -> None:
    leaves, treedef = tree_flatten({"w": 1.0, "b": 2.0, "a": {"y": 3.0, "x": 4.0}})
    assert leaves == [4.0, 3.0, 2.0, 1.0]
    rebuilt = tree_unflatten(treedef, [10.0, 20.0, 30.0, 40.0])
    assert list(rebuilt) == ["w", "b", "a"]
    assert list(rebuilt["a"]) == ["y", "x"]
    assert rebuilt == {"w": 40.0, "b": 30.0, "a": {"y": 20.0, "x": 10.0}}


def test_dicts_of_one_key_set_have_one_structure_whatever_their_order() -> None:
    _, first = tree_flatten({"b": 1.0, "a": 2.0})
    _, second = tree_flatten({"a": 1.0, "b": 2.0})
    assert first == second
    assert hash(first) == hash(second)


def test_grad_lists_keys_as_the_argument_does_and_values_pair_up(torch: ModuleType) -> None:
    gradient = cr.grad(loss)(PARAMS, X)
    expected = torch.func.grad(loss)(torch_params(torch), torch.tensor(X))
    assert list(gradient) == list(expected) == ["w", "b", "a"]
    for value, grad, reference in zip(
        PARAMS.values(), gradient.values(), expected.values(), strict=True
    ):
        assert grad.shape == value.shape
        np.testing.assert_allclose(grad.numpy(), reference.numpy(), rtol=1e-12, atol=0)


def test_vjp_output_and_pullback_keep_each_dicts_order(torch: ModuleType) -> None:
    output, vjp_fn = cr.vjp(outputs, PARAMS)
    expected_output, expected_vjp_fn = torch.func.vjp(outputs, torch_params(torch))
    assert list(output) == list(expected_output) == ["z", "y"]
    # A cotangent dict in another order is the same structure.
    (pulled,) = vjp_fn({"y": np.array(0.5), "z": np.ones(2)})
    (expected,) = expected_vjp_fn({"z": torch.ones(2), "y": torch.tensor(0.5)})
    assert list(pulled) == list(expected) == ["w", "b", "a"]
    for key in PARAMS:
        np.testing.assert_allclose(pulled[key].numpy(), expected[key].numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_jacobian_blocks_keep_the_output_and_argument_orders(
    torch: ModuleType, transform: str
) -> None:
    jacobian = getattr(cr, transform)(outputs)(PARAMS)
    # torch.func.jacfwd warns (torch.jit.script is deprecated); its jacrev gives the same blocks.
    expected = torch.func.jacrev(outputs)(torch_params(torch))
    assert list(jacobian) == list(expected) == ["z", "y"]
    for name in ("z", "y"):
        assert list(jacobian[name]) == list(expected[name]) == ["w", "b", "a"]
        for key in PARAMS:
            np.testing.assert_allclose(
                jacobian[name][key].numpy(), expected[name][key].numpy(), rtol=1e-12, atol=0
            )


def test_aux_dict_keeps_its_order() -> None:
    _, aux = cr.grad(lambda p: (loss(p, X), {"second": 2, "first": p["b"]}), has_aux=True)(PARAMS)
    assert list(aux) == ["second", "first"]
    assert aux["second"] == 2
