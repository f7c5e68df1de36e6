"""What transforms accept and return, as JAX's: argnums tuples, has_aux, keyword arguments
passed through undifferentiated, and pytree arguments (dicts, lists, tuples, None) whose
gradients come back in the same structure; values against torch.autograd."""

from __future__ import annotations

import re
from collections import namedtuple
from types import ModuleType

import numpy as np
import pytest
from engine_cases import relative_error

import chainrule as cr
from chainrule.pytree import tree_flatten, tree_unflatten

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(41)
X = RNG.normal(size=(5, 3))
Y = RNG.normal(size=(5, 2))
PARAMS = {
    "w1": RNG.normal(size=(3, 4)) * 0.5,
    "b1": RNG.normal(size=(4,)) * 0.1,
    "w2": RNG.normal(size=(4, 2)) * 0.5,
    "b2": RNG.normal(size=(2,)) * 0.1,
}


def mlp_loss(params, x, y):
    hidden = cr.tanh(x @ params["w1"] + params["b1"])
    return ((hidden @ params["w2"] + params["b2"] - y) ** 2).mean()


def _torch_mlp_grads(torch: ModuleType) -> dict[str, np.ndarray]:
    params = {name: torch.tensor(value, requires_grad=True) for name, value in PARAMS.items()}
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    hidden = torch.tanh(x @ params["w1"] + params["b1"])
    loss = ((hidden @ params["w2"] + params["b2"] - y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(params.values()))
    return {name: grad.numpy() for name, grad in zip(params, grads, strict=True)}


# ----------------------------------------------------------------- argnums
def test_grad_argnums_picks_and_orders_the_gradients() -> None:
    # Ported from JAX's tests/api_test.py (test_grad_argnums): f = x + 2y + 3z with a keyword
    # flag; a tuple argnums gives the gradients in the order it names the arguments.
    def f(x, y, z, flag=False):
        assert flag
        return 1.0 * x + 2.0 * y + 3.0 * z

    ones = (np.array(1.0), np.array(1.0), np.array(1.0))
    assert np.asarray(cr.grad(f)(*ones, flag=True)) == 1.0
    assert np.asarray(cr.grad(f, argnums=1)(*ones, flag=True)) == 2.0
    slopes = cr.grad(f, argnums=(2, 0))(*ones, flag=True)
    assert isinstance(slopes, tuple)
    assert [float(np.asarray(slope)) for slope in slopes] == [3.0, 1.0]


def test_value_and_grad_with_tuple_argnums_returns_the_value_and_a_tuple() -> None:
    # Ported from JAX's tests/api_test.py (test_value_and_grad_argnums).
    def f(x, y, z):
        return 1.0 * x + 2.0 * y + 3.0 * z

    ones = (np.array(1.0), np.array(1.0), np.array(1.0))
    value, (slope_z, slope_x) = cr.value_and_grad(f, argnums=(2, 0))(*ones)
    assert float(np.asarray(value)) == 6.0
    assert (float(np.asarray(slope_z)), float(np.asarray(slope_x))) == (3.0, 1.0)


def test_tuple_argnums_equal_the_gradient_of_the_packed_tuple() -> None:
    # Ported from HIPS autograd's tests/test_wrappers.py (test_multigrad_onearg): gradients
    # for two arguments equal the gradient for one tuple holding both.
    a, b = RNG.normal(size=3), RNG.normal(size=3)
    separate = cr.grad(lambda x, y: (x + cr.tanh(y)).sum(), argnums=(0, 1))(a, b)
    packed = cr.grad(lambda pair: (pair[0] + cr.tanh(pair[1])).sum())((a, b))
    assert isinstance(packed, tuple)
    for ours, expected in zip(separate, packed, strict=True):
        assert relative_error(np.asarray(ours), np.asarray(expected)) == 0


# ----------------------------------------------------------------- has_aux
def test_grad_with_has_aux_returns_the_gradient_and_the_aux() -> None:
    # Ported from JAX's tests/api_test.py (test_grad_and_aux_basic): x^3 with aux [x^2].
    slope, aux = cr.grad(lambda x: (x**3, [x**2]), has_aux=True)(np.array(3.0))
    assert float(np.asarray(slope)) == 27.0
    assert isinstance(aux, list)
    assert float(np.asarray(aux[0])) == 9.0
    assert not aux[0].requires_grad


def test_value_and_grad_with_has_aux_nests_the_value_with_the_aux() -> None:
    (value, aux), slope = cr.value_and_grad(
        lambda x: ((x**2).sum(), {"x": x, "note": "kept"}), has_aux=True
    )(X)
    assert relative_error(np.asarray(value), np.sum(X**2)) <= 1e-15
    assert relative_error(np.asarray(slope), 2 * X) == 0
    assert aux["note"] == "kept"
    assert relative_error(np.asarray(aux["x"]), X) == 0


def test_aux_that_is_a_constant_comes_back_unchanged() -> None:
    # Ported from JAX's tests/api_test.py (test_grad_and_aux_constant).
    slope, aux = cr.grad(lambda x: (x**3, [4.0]), has_aux=True)(np.array(3.0))
    assert float(np.asarray(slope)) == 27.0
    assert aux == [4.0]


def test_aux_of_an_inner_grad_is_differentiable_by_an_outer_one() -> None:
    # Ported from JAX's tests/api_test.py (test_grad_and_aux_nested): the aux x^3 of an inner
    # grad, differentiated by an outer grad, gives 3 x^2; times sin x, the product rule.
    def f(x):
        _, aux = cr.grad(lambda y: (y**3, [y**3]), has_aux=True)(x)
        return aux[0] * cr.sin(x)

    x = np.array(4.0)
    expected = 3 * x**2 * np.sin(x) + x**3 * np.cos(x)
    assert relative_error(np.asarray(cr.grad(f)(x)), expected) <= 1e-15


@pytest.mark.parametrize(
    ("returned", "described"),
    [
        (lambda x: (x.sum(), 1, 2), "a tuple of 3 items"),
        (lambda x: x.sum(), "a Tensor of shape ()"),
        (lambda x: (x.sum(),), "a tuple of 1 items"),
    ],
    ids=["three items", "a bare value", "one item"],
)
def test_has_aux_names_what_came_back_instead_of_a_pair(returned, described: str) -> None:
    # Ported from JAX's tests/api_test.py (test_grad_and_aux_error).
    with pytest.raises(
        TypeError,
        match=r"grad\(has_aux=True\): the function must return a pair \(value, aux\), but it "
        "returned " + re.escape(described),
    ):
        cr.grad(returned, has_aux=True)(X)


# ----------------------------------------------------------------- keyword arguments
def test_keyword_arguments_are_passed_through_and_not_differentiated() -> None:
    received = []
    scale = cr.tensor(np.array(3.0), requires_grad=True)

    def f(x, *, scale, label):
        received.append((scale, label))
        return (scale * x).sum()

    slope = cr.grad(f)(X, scale=scale, label="train")
    assert received[0][0] is scale
    assert received[0][1] == "train"
    # Only x is differentiated; the slope 3 stays a function of scale, as for a closure.
    assert relative_error(slope.detach().numpy(), np.full(X.shape, 3.0)) == 0
    assert scale.grad is None


def test_keyword_arguments_reach_jacrev_jacfwd_and_hessian() -> None:
    def f(x, power=2):
        return (x**power).sum()

    x = RNG.normal(size=3)
    assert relative_error(np.asarray(cr.jacrev(f)(x, power=3)), 3 * x**2) <= 1e-15
    assert relative_error(np.asarray(cr.jacfwd(f)(x, power=3)), 3 * x**2) <= 1e-15
    assert relative_error(np.asarray(cr.hessian(f)(x, power=3)), np.diag(6 * x)) <= 1e-15


# ----------------------------------------------------------------- pytrees
def test_grad_of_an_mlp_loss_in_a_dict_of_weights_matches_torch(torch: ModuleType) -> None:
    ours = cr.grad(mlp_loss)(PARAMS, X, Y)
    expected = _torch_mlp_grads(torch)
    assert isinstance(ours, dict)
    assert list(ours) == list(PARAMS)  # the argument's key order, as torch.func
    for name in PARAMS:
        assert np.asarray(ours[name]).shape == PARAMS[name].shape
        assert relative_error(np.asarray(ours[name]), expected[name]) <= 1e-12


def test_grad_keeps_the_structure_of_nested_lists_tuples_and_none(torch: ModuleType) -> None:
    a, b, c = RNG.normal(size=3), RNG.normal(size=(2, 3)), RNG.normal(size=())
    tree = [a, (b, {"c": c, "skip": None}), None]

    def ours(t):
        first, (second, inner), _ = t
        return (cr.exp(first) * second).sum() * inner["c"]

    slopes = cr.grad(ours)(tree)
    a_t, b_t, c_t = (torch.tensor(v, requires_grad=True) for v in (a, b, c))
    value = (torch.exp(a_t) * b_t).sum() * c_t
    expected = torch.autograd.grad(value, (a_t, b_t, c_t))
    assert isinstance(slopes, list)
    assert isinstance(slopes[1], tuple)
    assert slopes[2] is None
    assert slopes[1][1]["skip"] is None
    got = (slopes[0], slopes[1][0], slopes[1][1]["c"])
    for ours_grad, theirs in zip(got, expected, strict=True):
        assert relative_error(np.asarray(ours_grad), theirs.numpy()) <= 1e-14


def test_grad_keeps_a_named_tuple_type() -> None:
    Pair = namedtuple("Pair", ["weight", "bias"])
    slopes = cr.grad(lambda p: (p.weight**2).sum() + p.bias.sum())(Pair(X[0], X[1]))
    assert type(slopes) is Pair
    assert relative_error(np.asarray(slopes.weight), 2 * X[0]) == 0
    assert relative_error(np.asarray(slopes.bias), np.ones(3)) == 0


def test_grad_keeps_each_leaf_dtype() -> None:
    # Ported from HIPS autograd's tests/test_wrappers.py (test_dtypes): a float32 input gets
    # a float32 gradient, a float64 one float64, also side by side in one dict.
    params = {"single": X.astype(np.float32), "double": X}
    slopes = cr.grad(lambda p: (p["single"] ** 2).sum() + (p["double"] ** 2).sum())(params)
    assert slopes["single"].dtype == np.float32
    assert slopes["double"].dtype == np.float64


def test_grad_with_tensors_in_a_dict_leaves_them_untouched() -> None:
    params = {name: cr.tensor(value) for name, value in PARAMS.items()}
    slopes = cr.grad(mlp_loss)(params, X, Y)
    assert all(params[name].grad is None for name in params)
    assert set(slopes) == set(PARAMS)


def test_vjp_of_pytree_primals_and_outputs_matches_torch(torch: ModuleType) -> None:
    def ours(params, x):
        hidden = x @ params["w1"] + params["b1"]
        return {"hidden": hidden, "norm": (params["w1"] ** 2).sum()}

    output, vjp_fn = cr.vjp(ours, {"w1": PARAMS["w1"], "b1": PARAMS["b1"]}, X)
    cotangent = {"hidden": RNG.normal(size=(5, 4)), "norm": np.array(0.7)}
    pulled_params, pulled_x = vjp_fn(cotangent)

    w1, b1, x = (torch.tensor(v, requires_grad=True) for v in (PARAMS["w1"], PARAMS["b1"], X))
    hidden = x @ w1 + b1
    total = (hidden * torch.from_numpy(cotangent["hidden"])).sum() + 0.7 * (w1**2).sum()
    expected_w1, expected_b1, expected_x = torch.autograd.grad(total, (w1, b1, x))
    assert sorted(output) == ["hidden", "norm"]
    assert relative_error(np.asarray(pulled_params["w1"]), expected_w1.numpy()) <= 1e-14
    assert relative_error(np.asarray(pulled_params["b1"]), expected_b1.numpy()) <= 1e-14
    assert relative_error(np.asarray(pulled_x), expected_x.numpy()) <= 1e-14


def test_vjp_with_has_aux_returns_the_aux_third() -> None:
    output, vjp_fn, aux = cr.vjp(lambda x: (x * 2.0, "aux"), X, has_aux=True)
    assert aux == "aux"
    (pulled,) = vjp_fn(np.ones(X.shape))
    assert relative_error(np.asarray(pulled), np.full(X.shape, 2.0)) == 0
    assert relative_error(np.asarray(output), 2 * X) == 0


def test_jacrev_of_a_dict_argument_gives_a_dict_of_blocks(torch: ModuleType) -> None:
    params = {"w": PARAMS["w2"], "b": PARAMS["b2"]}
    hidden = RNG.normal(size=(5, 4))
    ours = cr.jacrev(lambda p: cr.tanh(hidden @ p["w"] + p["b"]))(params)
    expected_w, expected_b = torch.autograd.functional.jacobian(
        lambda w, b: torch.tanh(torch.from_numpy(hidden) @ w + b),
        (torch.from_numpy(params["w"]), torch.from_numpy(params["b"])),
    )
    assert relative_error(np.asarray(ours["w"]), expected_w.numpy()) <= 1e-12
    assert relative_error(np.asarray(ours["b"]), expected_b.numpy()) <= 1e-12


# ----------------------------------------------------------------- errors
def test_grad_of_a_non_scalar_names_the_shape_and_suggests_vjp_and_jacrev() -> None:
    with pytest.raises(
        TypeError,
        match=r"grad: the function must return a scalar, got shape \(5, 3\); use "
        r"chainrule.jacrev or chainrule.vjp",
    ):
        cr.grad(lambda x: x * 2.0)(X)


def test_grad_of_a_tuple_without_has_aux_suggests_has_aux() -> None:
    with pytest.raises(TypeError, match=r"grad: the function returned a tuple of 2 items.*has_aux"):
        cr.grad(lambda x: (x.sum(), x))(X)


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(np.arange(3), "int64"), (3, "int64"), (np.array([True, False]), "bool")],
    ids=["int array", "python int", "bool array"],
)
def test_grad_refuses_integer_inputs_naming_the_dtype(value, dtype: str) -> None:
    with pytest.raises(
        TypeError,
        match=rf"grad: argument 0 has dtype {dtype}, and only floating-point inputs can be "
        "differentiated",
    ):
        cr.grad(lambda x: (x * 1.0).sum())(value)


def test_grad_names_the_leaf_of_an_integer_input_in_a_pytree() -> None:
    with pytest.raises(TypeError, match=r"grad: argument 1\['steps'\]\[0\] has dtype int64"):
        cr.grad(lambda x, p: x.sum(), argnums=(0, 1))(X, {"steps": [np.arange(2)]})


def test_grad_refuses_a_string_argument() -> None:
    # Ported from JAX's tests/api_test.py (test_grad_bad_input).
    with pytest.raises(TypeError, match=r"grad: argument 0 is a str; only arrays, Tensors"):
        cr.grad(lambda x: x)("foo")


def test_vjp_refuses_a_cotangent_of_another_structure() -> None:
    _, vjp_fn = cr.vjp(lambda x: {"a": x, "b": x * 2.0}, X)
    with pytest.raises(
        ValueError,
        match=r"vjp: the cotangent has structure \{'a': \*\} but the output has structure "
        r"\{'a': \*, 'b': \*\}",
    ):
        vjp_fn({"a": np.ones(X.shape)})


# ----------------------------------------------------------------- the pytree helper
def test_flatten_orders_dict_leaves_by_sorted_key() -> None:
    leaves, _ = tree_flatten({"b": 2, "a": [1, (3,)], "c": None})
    assert leaves == [1, 3, 2]


def test_unflatten_rebuilds_the_structure_around_new_leaves() -> None:
    tree = {"b": 2, "a": [1, (3,)], "c": None}
    _, treedef = tree_flatten(tree)
    assert tree_unflatten(treedef, [10, 30, 20]) == {"a": [10, (30,)], "b": 20, "c": None}
    assert str(treedef) == "{'a': [*, (*,)], 'b': *, 'c': None}"


def test_flatten_refuses_unsortable_dict_keys() -> None:
    with pytest.raises(TypeError, match=r"pytree: the dict keys \[1, 'a'\] cannot be sorted"):
        tree_flatten({1: 0.0, "a": 1.0})


def test_unflatten_refuses_the_wrong_number_of_leaves() -> None:
    _, treedef = tree_flatten([1, 2])
    with pytest.raises(ValueError, match=r"the structure \[\*, \*\] holds 2 leaves but 3"):
        tree_unflatten(treedef, [1, 2, 3])
