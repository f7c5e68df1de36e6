"""explore's data: the graph, the values and gradients, the stepper's steps and the tutorial's
extras equal what the library computes in Python."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import manual, nn
from chainrule.explanation import tutorial_network
from chainrule.exploration.data import MAX_COLS, MAX_ROWS, matrix
from chainrule.exploration.tutorial import MISTAKES, digits_batch, tutorial_data


@pytest.fixture(scope="module")
def tutorial() -> dict[str, object]:
    return tutorial_data(n=6, n_hidden=8, train_steps=5, rng=np.random.default_rng(3))


def test_matrix_keeps_shape_and_row_major_values() -> None:
    values = np.arange(6.0).reshape(2, 3)
    grid = matrix(values)
    assert (grid["shape"], grid["rows"], grid["cols"], grid["sampled"]) == ([2, 3], 2, 3, False)
    assert grid["data"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_matrix_samples_big_tensors_and_says_so() -> None:
    grid = matrix(np.zeros((MAX_ROWS + 5, MAX_COLS + 1)))
    assert (grid["rows"], grid["cols"], grid["sampled"]) == (MAX_ROWS, MAX_COLS, True)
    assert grid["shape"] == [MAX_ROWS + 5, MAX_COLS + 1]


def test_steps_go_forward_to_the_loss_then_back_one_link_each() -> None:
    network = tutorial_network(rng=np.random.default_rng(0))
    data = chainrule.explore(network["loss"], wrt=[network["w1"], network["b2"]]).data
    titles = [step["title"] for step in data["steps"]]
    assert titles[:6] == [
        "u1 = x @ w1 + b1",
        "u2 = relu(u1)",
        "u3 = u2 @ w2 + b2",
        "u4 = y - u3",
        "u5 = u4**2",
        "loss = mean(u5)",
    ]
    assert titles[6:] == [
        "dloss/du5",
        "du5/du4",
        "du4/du3",
        "du3/du2",
        "du2/du1",
        "du1/dw1",
        "du3/db2",
    ]


def test_node_values_and_gradients_equal_the_tensors_and_backward() -> None:
    network = tutorial_network(rng=np.random.default_rng(1))
    data = chainrule.explore(network["loss"], wrt=network["w1"]).data
    network["loss"].backward()
    nodes = {node["name"]: node for node in data["nodes"]}
    np.testing.assert_allclose(
        np.reshape(nodes["u1"]["value"]["data"], (4, 5)), network["u1"].data, rtol=1e-12
    )
    grad_w1 = network["w1"].grad
    assert grad_w1 is not None
    np.testing.assert_allclose(
        np.reshape(nodes["w1"]["grad"]["data"], (3, 5)), np.asarray(grad_w1), rtol=1e-10
    )
    assert nodes["x"]["grad"] is None


def test_each_backward_step_sends_back_the_upstream_times_the_local_derivative() -> None:
    network = tutorial_network(rng=np.random.default_rng(2))
    data = chainrule.explore(network["loss"], wrt=network["w1"]).data
    step = next(s for s in data["steps"] if s["title"] == "du5/du4")
    upstream = np.reshape(step["upstream"]["data"], (4, 1))
    grad_in = np.reshape(step["grad_in"]["data"], (4, 1))
    np.testing.assert_allclose(grad_in, upstream * 2 * network["u4"].data, rtol=1e-12)
    assert step["check"]["passed"]
    assert len(step["check"]["entries"]) == 4


def test_edges_carry_the_shape_of_what_flows_along_them() -> None:
    network = tutorial_network(n=7, n_in=3, n_hidden=5, rng=np.random.default_rng(0))
    data = chainrule.explore(network["loss"], wrt=network["w1"]).data
    edges = {(e["from"], e["to"]): e["shape"] for e in data["edges"]}
    assert edges[("x", "u1")] == [7, 3]
    assert edges[("u1", "u2")] == [7, 5]


def test_a_module_graph_with_cross_entropy_explores() -> None:
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(4, 6, rng=rng),
        nn.ReLU(),
        nn.Linear(6, 5, rng=rng),
        nn.ReLU(),
        nn.Linear(5, 3, rng=rng),
    )
    inputs = chainrule.tensor(rng.normal(size=(8, 4)))
    targets = rng.integers(0, 3, size=8)
    loss = chainrule.functional.cross_entropy(model(inputs), targets)
    data = chainrule.explore(loss, wrt=list(model.parameters())).data
    backward = [s for s in data["steps"] if s["phase"] == "backward"]
    assert all(s["check"]["passed"] for s in backward)
    assert {s["node"] for s in backward} == {
        "u1",
        "u2",
        "u3",
        "u4",
        "u5",
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    }


def test_empty_wrt_is_a_clear_error() -> None:
    network = tutorial_network(rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="explore: wrt is empty"):
        chainrule.explore(network["loss"], wrt=[])


def test_tutorial_gradients_agree_side_by_side(tutorial: dict[str, object]) -> None:
    sides = tutorial["tutorial"]["sides"]  # type: ignore[index]
    assert [side["name"] for side in sides] == ["w1", "b1", "w2", "b2"]
    for side in sides:
        np.testing.assert_allclose(
            side["manual"]["data"], side["autograd"]["data"], rtol=1e-10, atol=1e-14
        )
        np.testing.assert_allclose(
            side["closed_form"]["data"], side["autograd"]["data"], rtol=1e-10, atol=1e-14
        )


@pytest.mark.parametrize(
    ("mistake", "kind"),
    [
        ("sign", "SIGN_FLIPPED"),
        ("sum", "SCALED"),
        ("two", "SCALED"),
        ("transpose", "TRANSPOSED"),
        ("mask", "ZEROED"),
    ],
)
def test_each_classic_mistake_gets_its_diagnosis(
    tutorial: dict[str, object], mistake: str, kind: str
) -> None:
    choices = {c["key"]: c for c in tutorial["tutorial"]["break_it"]}  # type: ignore[index]
    assert choices[mistake]["kind"] == kind
    assert set(choices) == set(MISTAKES)


def test_train_frames_replay_gradient_descent(tutorial: dict[str, object]) -> None:
    frames = tutorial["tutorial"]["train"]  # type: ignore[index]
    x, y, params = digits_batch(6, 8, rng=np.random.default_rng(3))
    assert len(frames) == 6
    assert frames[0]["loss"] == pytest.approx(manual.forward(x, y, params)[0], rel=1e-12)
    assert frames[-1]["loss"] < frames[0]["loss"]


def test_a_reused_intermediate_is_stepped_through_only_once_its_gradient_is_complete() -> None:
    rng = np.random.default_rng(4)
    x = chainrule.tensor(rng.normal(size=(5, 3)))
    w = chainrule.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    b = chainrule.tensor(rng.normal(size=(4,)), requires_grad=True)
    hidden = (x @ w + b).relu()
    loss = (hidden * hidden + hidden).mean()  # u2 = relu(u1) reaches the loss three ways
    data = chainrule.explore(loss, wrt=[w, b]).data
    backward = [s for s in data["steps"] if s["phase"] == "backward"]
    for position, step in enumerate(backward):
        into = [s for s in backward if s["node"] == step["from"]]
        shown = [id(s) for s in backward[:position]]
        assert all(id(s) in shown for s in into), (step["title"], [s["title"] for s in into])
        if into:  # the upstream it multiplies is the sum of what the steps before sent back
            upstream = np.reshape(step["upstream"]["data"], step["grad_out_shape"])
            sent = sum(np.reshape(s["grad_in"]["data"], s["grad_in_shape"]) for s in into)
            np.testing.assert_allclose(upstream, sent, rtol=1e-12)
    assert [s["title"] for s in backward].index("du2/du1") == 5


def test_a_nan_in_the_input_is_a_clear_error_naming_the_tensor_and_entry() -> None:
    x = chainrule.tensor(np.array([[1.0, np.nan], [0.5, 2.0]]), name="x")
    w = chainrule.tensor(np.ones((2, 3)), requires_grad=True, name="w")
    loss = (x @ w).relu().mean()
    with pytest.raises(
        ValueError,
        match=r"^explore: x holds NaN at entry \(0, 1\) of its value, and the page shows "
        r"finite numbers only",
    ):
        chainrule.explore(loss, wrt=w)


def test_a_value_that_overflows_is_a_clear_error_naming_the_step() -> None:
    x = chainrule.tensor(np.array([[1e200, 1.0]]), name="x")
    w = chainrule.tensor(np.array([[1e200], [1.0]]), requires_grad=True, name="w")
    with np.errstate(over="ignore", invalid="ignore"):
        loss = (x @ w).sum()  # 1e400: inf from the first step on
        with pytest.raises(
            ValueError, match=r"^explore: u1 holds inf at entry \(0, 0\) of its value"
        ):
            chainrule.explore(loss, wrt=w)


def test_a_gradient_that_overflows_is_a_clear_error_naming_it() -> None:
    w = chainrule.tensor(np.array([1e-320, 1.0]), requires_grad=True, name="w")
    loss = w.log().sum()  # finite values; dloss/dw = 1 / w = 1e320 overflows
    with (
        np.errstate(over="ignore", divide="ignore", invalid="ignore"),
        pytest.raises(
            ValueError, match=r"^explore: w holds inf at entry \(0,\) of its gradient dloss/dw"
        ),
    ):
        chainrule.explore(loss, wrt=w)


def test_the_local_derivative_is_shown_where_the_upstream_gradient_is_zero() -> None:
    # Before: the local factor was read as product / upstream, so where nothing flowed back
    # (a max-pool's other entries, a masked output) the page said "0 × (any) = 0" for
    # relu's [u1 > 0], which is 0 or 1 there.
    inputs = chainrule.tensor([[1.0, -2.0, 3.0], [-1.0, 2.0, 0.5]], name="x")
    weight = chainrule.tensor([[2.0, 1.0, -1.0], [1.0, 1.0, 2.0]], requires_grad=True, name="w")
    mask = chainrule.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], name="m")
    u1 = inputs * weight
    loss = chainrule.mean(chainrule.relu(u1) * mask)
    data = chainrule.explore(loss, wrt=weight, samples=6).data
    steps = {step["title"]: step for step in data["steps"]}
    relu_link, product_link = steps["du2/du1"], steps["du1/dw"]
    assert len(relu_link["plugged_in"]) == len(product_link["plugged_in"]) == 6
    assert {item["upstream"] for item in relu_link["plugged_in"]} == {0.0, 1 / 6}
    for item in relu_link["plugged_in"]:
        assert item["local"] == float(u1.data[tuple(item["entry"])] > 0)
        assert item["product"] == item["upstream"] * item["local"]
    for item in product_link["plugged_in"]:
        assert item["local"] == inputs.data[tuple(item["entry"])]


@pytest.mark.parametrize("samples", [0, -1, 2.5, True])
def test_samples_below_one_is_a_clear_error_not_a_check_of_nothing(samples: Any) -> None:
    # Before: samples=0 gave every link "ok: 0 entries vs finite differences" (a pass that
    # checked nothing) and samples=-1 "negative dimensions are not allowed" from NumPy.
    network = tutorial_network(rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^explore: samples=.*: give an integer >= 1"):
        chainrule.explore(network["loss"], wrt=network["w1"], samples=samples)


@pytest.mark.parametrize("order", ["w first", "h first"])
def test_an_intermediate_among_several_wrt_keeps_every_step_its_own_numbers(order: str) -> None:
    # Before: with wrt=[w, h] (h = x @ w, unnamed) the page's forward steps came from the
    # explanation for w, which read x @ w + b as one step u1, while the values came from a
    # view that kept h apart: "u1 = x @ w + b" showed x @ w's values, "u2 = relu(u1)" those of
    # u1 + b, and the backward pass listed both dloss/du3 and dloss/du4, one of them wrong.
    rng = np.random.default_rng(0)
    inputs = chainrule.tensor(rng.normal(size=(3, 2)), name="x")
    weight = chainrule.tensor(rng.normal(size=(2, 4)), requires_grad=True, name="w")
    bias = chainrule.tensor(rng.normal(size=(4,)), requires_grad=True, name="b")
    product = inputs @ weight
    shifted = product + bias
    loss = chainrule.mean(chainrule.relu(shifted) ** 2)
    wrt = [weight, product] if order == "w first" else [product, weight]
    data = chainrule.explore(loss, wrt=wrt).data
    loss.backward()
    titles = [step["title"] for step in data["steps"]]
    assert titles == [
        *["u1 = x @ w", "u2 = u1 + b", "u3 = relu(u2)", "u4 = u3**2", "loss = mean(u4)"],
        *["dloss/du4", "du4/du3", "du3/du2", "du2/du1", "du1/dw"],
    ]
    nodes = {node["name"]: node for node in data["nodes"]}
    np.testing.assert_allclose(
        np.reshape(nodes["u1"]["value"]["data"], (3, 4)), product.data, rtol=1e-15
    )
    np.testing.assert_allclose(
        np.reshape(nodes["u2"]["value"]["data"], (3, 4)), shifted.data, rtol=1e-15
    )
    last = data["steps"][-1]
    assert weight.grad is not None
    np.testing.assert_allclose(
        np.reshape(last["grad_in"]["data"], (2, 4)), np.asarray(weight.grad), rtol=1e-12
    )


def test_every_edge_points_right_when_a_leaf_is_used_again_downstream() -> None:
    # Before: a leaf's column was taken from its first consumer, but a column of 0 read as
    # "not yet placed", so x, used by u1 and again by a residual add, was moved to column 4
    # and its edge into u1 (column 1) drawn backwards.
    rng = np.random.default_rng(0)
    inputs = chainrule.tensor(rng.normal(size=(3, 4)), name="x")
    w1 = chainrule.tensor(rng.normal(size=(4, 4)), requires_grad=True, name="w1")
    w2 = chainrule.tensor(rng.normal(size=(4, 4)), requires_grad=True, name="w2")
    hidden = chainrule.relu(chainrule.relu(inputs @ w1) @ w2)
    loss = chainrule.mean((hidden + inputs) ** 2)
    data = chainrule.explore(loss, wrt=[w1, w2]).data
    column = {node["name"]: node["column"] for node in data["nodes"]}
    assert column["x"] == 0
    assert [e for e in data["edges"] if column[e["from"]] >= column[e["to"]]] == []
