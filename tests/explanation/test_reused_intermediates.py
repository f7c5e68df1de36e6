"""explain / explore / draw on graphs where an intermediate reaches the loss by several
routes, and one of them is longer: the reading of the graph must still put every tensor
after the tensors it is computed from."""

from __future__ import annotations

from types import ModuleType

import numpy as np

import chainrule
from chainrule.explanation.replay import upstream_gradients
from chainrule.explanation.walk import read_graph
from chainrule.tensor import Tensor


def _reused_product(rng: np.random.Generator) -> dict[str, Tensor]:
    """c = a * b; d = c * a; loss = sum(d - c): c feeds the loss directly and through d,
    and d is the first operand of the subtraction (so it is read before c)."""
    a = Tensor(rng.standard_normal(3), requires_grad=True, name="a")
    b = Tensor(rng.standard_normal((2, 3)), requires_grad=True, name="b")
    c = a * b
    d = c * a
    loss = (d - c).sum()
    return {"a": a, "b": b, "c": c, "d": d, "loss": loss}


def test_substitutions_list_each_step_after_the_steps_it_uses(
    rng: np.random.Generator,
) -> None:
    graph = _reused_product(rng)
    view = read_graph(graph["loss"])
    position = {id(step.tensor): number for number, step in enumerate(view.steps)}
    for step in view.steps:
        for operand in step.operands:
            if operand.grad_fn is not None:
                assert position[id(operand)] < position[id(step.tensor)], (
                    f"{step.name} is listed before its operand {view.name(operand)}"
                )


def test_explain_counts_every_path_of_a_reused_intermediate(rng: np.random.Generator) -> None:
    # loss = sum(a*b*a - a*b): a reaches the loss through d directly, through c inside d,
    # and through c directly, so three products add up.
    graph = _reused_product(rng)
    explanation = chainrule.explain(graph["loss"], graph["a"])
    assert explanation.path_count == 3
    assert len(explanation.paths) == 3
    assert "(3), whose products add up" in str(explanation)


def test_replayed_gradients_equal_backward_when_an_intermediate_is_reused(
    rng: np.random.Generator, torch: ModuleType
) -> None:
    graph = _reused_product(rng)
    view = read_graph(graph["loss"])
    grads = upstream_gradients(view)
    graph["loss"].backward()
    for name in ("a", "b"):
        engine = graph[name].grad
        assert engine is not None
        assert grads[id(graph[name])].shape == graph[name].shape
        np.testing.assert_allclose(grads[id(graph[name])], engine.data, rtol=1e-12)
    # The same loss in PyTorch, the reference.
    a = torch.tensor(graph["a"].data, requires_grad=True)
    b = torch.tensor(graph["b"].data, requires_grad=True)
    c = a * b
    ((c * a - c).sum()).backward()
    assert a.grad is not None
    np.testing.assert_allclose(grads[id(graph["a"])], a.grad.numpy(), rtol=1e-12)


def test_explore_page_shows_the_engines_gradient_when_an_intermediate_is_reused(
    rng: np.random.Generator,
) -> None:
    graph = _reused_product(rng)
    data = chainrule.explore(graph["loss"], wrt=graph["a"]).data
    graph["loss"].backward()
    nodes = {node["name"]: node for node in data["nodes"]}
    for name in ("a", "b"):
        engine = graph[name].grad
        assert engine is not None
        np.testing.assert_allclose(
            np.reshape(nodes[name]["grad"]["data"], graph[name].shape), engine.data, rtol=1e-12
        )


def test_replayed_gradients_match_pytorch_on_a_scalar_graph_with_reuse_at_every_depth(
    torch: ModuleType,
) -> None:
    # After micrograd's test_engine.py (test_sanity_check / test_more_ops), in our own
    # terms: scalars reused at several depths, through relu, powers and a division.
    def build(x, y, relu):
        z = 2 * x + 2 + x
        q = relu(z) + z * x
        h = relu(z * z)
        w = h + q + q * x
        return (w - y) ** 2 / 2.0 + 10.0 / (w * w)

    x = Tensor(np.array(-4.0), requires_grad=True, name="x")
    y = Tensor(np.array(2.0), requires_grad=True, name="y")
    loss = build(x, y, chainrule.relu)
    grads = upstream_gradients(read_graph(loss))

    x_ref = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    y_ref = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    build(x_ref, y_ref, torch.relu).backward()
    assert x_ref.grad is not None
    assert y_ref.grad is not None
    np.testing.assert_allclose(grads[id(x)], x_ref.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grads[id(y)], y_ref.grad.numpy(), rtol=1e-12)
