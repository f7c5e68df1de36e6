"""In-place detach (`detach_`) and its siblings, against PyTorch 2.13: the ops recorded
before a tensor is cut from the graph keep the graph they recorded (their gradient still
reaches the tensor's producer); the uses after it see a constant. Each scenario runs on both
libraries and compares the values, the gradients, which `.grad` is None and which raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

Library = Any  # the `chainrule` or `torch` module: the scenarios use what both spell alike


def _tensor(lib: Library, values: Any, requires_grad: bool = True) -> Any:
    array = np.array(values, dtype=np.float64)
    if lib is torch:
        return torch.tensor(array, requires_grad=requires_grad)
    return cr.tensor(array, requires_grad=requires_grad)


def _values(tensor: Any) -> np.ndarray | None:
    if tensor is None:
        return None
    return np.asarray(tensor.detach().numpy(), dtype=np.float64)


def _outcome(scenario: Callable[[Library], dict[str, Any]], lib: Library) -> dict[str, Any]:
    """What `scenario` observed on `lib`, or the kind of error it raised."""
    try:
        return scenario(lib)
    except RuntimeError as error:
        return {"raised": RuntimeError, "message": str(error)}


def _compare(scenario: Callable[[Library], dict[str, Any]]) -> dict[str, Any]:
    ours, theirs = _outcome(scenario, cr), _outcome(scenario, torch)
    assert ours.keys() == theirs.keys(), (ours, theirs)
    for key, expected in theirs.items():
        got = ours[key]
        if key == "message":
            continue
        if isinstance(expected, torch.Tensor) or isinstance(got, cr.Tensor):
            got_values, expected_values = _values(got), _values(expected)
            assert (got_values is None) == (expected_values is None), key
            if expected_values is not None:
                assert got_values is not None
                assert got_values.shape == expected_values.shape, key
                np.testing.assert_allclose(got_values, expected_values, rtol=1e-13, err_msg=key)
        else:
            assert got == expected, (key, got, expected)
    return ours


def _detach_after_use(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    y = x * 2
    x.detach_()
    y.sum().backward()
    later = x * 3
    return {
        "a.grad": a.grad,
        "x.is_leaf": x.is_leaf,
        "x.requires_grad": x.requires_grad,
        "x.grad_fn is None": x.grad_fn is None,
        "later.requires_grad": later.requires_grad,
    }


def _detach_leaf_after_use(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    y = a * 2
    a.detach_()
    y.sum().backward()
    return {"a.grad": a.grad, "a.requires_grad": a.requires_grad}


def _detach_then_require_again(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    y = x * 2
    x.detach_()
    x.requires_grad_()
    ((x * 3).sum() + y.sum()).backward()
    return {"a.grad": a.grad, "x.grad": x.grad}


def _detach_an_input_its_consumer_saved(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    y = x * x
    x.detach_()
    y.sum().backward()
    return {"a.grad": a.grad}


def _detach_an_output_its_producer_saved(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [0.5, -1.0])
    x = a.exp()
    y = x * 2
    x.detach_()
    y.sum().backward()
    return {"a.grad": a.grad}


def _detach_then_change_a_saved_output(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [0.5, -1.0])
    x = a.exp()
    y = x * 2
    x.detach_()
    x.mul_(3)
    y.sum().backward()
    return {"a.grad": a.grad}


def _detach_then_change_an_unsaved_input(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    y = x * 2
    x.detach_()
    x.mul_(3)
    y.sum().backward()
    return {"a.grad": a.grad, "x": x}


def _view_of_a_detached_base(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [[1.0, 2.0]])
    x = a * 1
    v = x.reshape(2)
    x.detach_()
    (v * 2).sum().backward()
    return {"a.grad": a.grad, "v.requires_grad": v.requires_grad}


def _detach_after_use_create_graph(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    y = (x * 2 + a * a).sum()
    x.detach_()
    y.backward(create_graph=True)
    grad = a.grad
    assert grad is not None
    grad.sum().backward()
    return {"a.grad": a.grad}


def _saved_detached_input_create_graph(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    y = (x * x).sum()
    x.detach_()
    y.backward(create_graph=True)
    return {"a.grad": a.grad}


def _detach_a_view(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    x[:1].detach_()
    return {}


def _requires_grad_false_on_a_non_leaf(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    x.requires_grad_(False)
    return {}


def _requires_grad_false_on_a_leaf_after_use(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    y = a * 2
    a.requires_grad_(False)
    y.sum().backward()
    return {"a.grad": a.grad}


def _detach_inside_a_chain(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [0.25, -0.5, 1.5])
    b = _tensor(lib, [2.0, 3.0, -1.0])
    x = (a * b).tanh()
    y = x.exp()
    z = (y * b + x).sum()
    x.detach_()
    w = (x * a).sum()
    (z + w).backward()
    return {"a.grad": a.grad, "b.grad": b.grad}


SCENARIOS = {
    "detach_ after use": _detach_after_use,
    "detach_ of a leaf after use": _detach_leaf_after_use,
    "detach_ then requires_grad_": _detach_then_require_again,
    "detach_ of an input the consumer saved": _detach_an_input_its_consumer_saved,
    "detach_ of an output its producer saved": _detach_an_output_its_producer_saved,
    "detach_ then in-place on a saved output": _detach_then_change_a_saved_output,
    "detach_ then in-place on an unsaved input": _detach_then_change_an_unsaved_input,
    "a view of a base detached in place": _view_of_a_detached_base,
    "detach_ after use, create_graph": _detach_after_use_create_graph,
    "detach_ of a saved input, create_graph": _saved_detached_input_create_graph,
    "detach_ of a view": _detach_a_view,
    "requires_grad_(False) on a non-leaf": _requires_grad_false_on_a_non_leaf,
    "requires_grad_(False) on a leaf after use": _requires_grad_false_on_a_leaf_after_use,
    "detach_ inside a chain": _detach_inside_a_chain,
}


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_in_place_detach_matches_torch(scenario: Callable[[Library], dict[str, Any]]) -> None:
    _compare(scenario)


def test_gradient_recorded_before_detach_reaches_the_producer() -> None:
    # The reported case, with its numbers: y's graph was recorded before detach_.
    outcome = _compare(_detach_after_use)
    np.testing.assert_array_equal(_values(outcome["a.grad"]), [2.0, 2.0])


def test_detach_inside_a_chain_matches_central_differences() -> None:
    a0, b = np.array([0.25, -0.5, 1.5]), np.array([2.0, 3.0, -1.0])

    def loss(a: np.ndarray) -> float:
        # x's later use (x * a) sees x as a constant, fixed at the point of detach_.
        x = np.tanh(a * b)
        x_fixed = np.tanh(a0 * b)
        return float((np.exp(x) * b + x).sum() + (x_fixed * a).sum())

    outcome = _compare(_detach_inside_a_chain)
    step = 1e-6
    numeric = [
        (loss(a0 + step * np.eye(3)[i]) - loss(a0 - step * np.eye(3)[i])) / (2 * step)
        for i in range(3)
    ]
    np.testing.assert_allclose(_values(outcome["a.grad"]), numeric, rtol=1e-7)


def test_saved_detached_input_refusal_names_the_op_and_the_fix() -> None:
    outcome = _outcome(_detach_an_input_its_consumer_saved, cr)
    assert outcome["raised"] is RuntimeError
    assert "mul" in outcome["message"]
    assert "detach()" in outcome["message"]


def test_detach_of_a_view_refusal_says_to_detach_out_of_place() -> None:
    with pytest.raises(RuntimeError, match=r"detach_: .*view.*\.detach\(\)"):
        _detach_a_view(cr)


def _zero_grad_cuts_a_recorded_grad(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    (a * a * a).sum().backward(create_graph=True)
    recorded = a.grad
    y = recorded * 3
    lib.optim.SGD([a], lr=0.1).zero_grad(set_to_none=False)
    y.sum().backward()
    return {"a.grad": a.grad, "recorded.requires_grad": recorded.requires_grad}


def _zero_grad_of_a_view_grad(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    held = _tensor(lib, [5.0, 6.0, 7.0], requires_grad=False)
    a.grad = held[1:]
    lib.optim.SGD([a], lr=0.1).zero_grad(set_to_none=False)
    return {"a.grad": a.grad, "held": held}


def _zero_grad_after_a_penalty_on_a_view_of_the_grad(lib: Library) -> dict[str, Any]:
    # A gradient penalty read a view of a create_graph `.grad`; zero_grad then detaches that
    # `.grad` in place and zeroes it, as torch does (no refusal), and the penalty's graph,
    # recorded before, still reaches `a` through the view.
    a = _tensor(lib, [[1.0, 2.0], [3.0, 4.0]])
    (a**3).sum().backward(create_graph=True)
    penalty = (a.grad[0] * 2).sum()
    lib.optim.SGD([a], lr=0.1).zero_grad(set_to_none=False)
    zeroed = a.grad.detach() * 1
    penalty.backward()
    return {"zeroed": zeroed, "a.grad": a.grad}


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
@pytest.mark.parametrize(
    "scenario",
    [
        _zero_grad_cuts_a_recorded_grad,
        _zero_grad_of_a_view_grad,
        _zero_grad_after_a_penalty_on_a_view_of_the_grad,
    ],
    ids=["recorded", "view", "penalty on a view"],
)
def test_optimizer_zero_grad_detaches_as_torch(
    scenario: Callable[[Library], dict[str, Any]],
) -> None:
    _compare(scenario)


def _new_values_for_a_computed_tensor_after_use(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    y = x * 2
    x.data = _tensor(lib, [5.0, 6.0], requires_grad=False)
    y.sum().backward()
    return {"a.grad": a.grad, "x.is_leaf": x.is_leaf}


def test_new_values_of_the_same_shape_keep_the_graph_as_torch() -> None:
    _compare(_new_values_for_a_computed_tensor_after_use)


@pytest.mark.parametrize("computed", [False, True], ids=["leaf", "computed"])
@pytest.mark.parametrize("shape", [(1,), (3,), (2, 1)])
def test_new_shape_after_use_is_refused_naming_both_shapes(
    computed: bool, shape: tuple[int, ...]
) -> None:
    # torch delivers the gradient in the shape the op saw (so a leaf's .grad no longer
    # matches its values); chainrule refuses instead of summing it into the new shape.
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    x = a * 1 if computed else a
    y = x * 2
    x.data = np.ones(shape)
    with pytest.raises(RuntimeError, match=r"mul.*shape \(2,\).*shape \(" + str(shape[0])):
        y.sum().backward()


def test_new_dtype_after_use_is_refused() -> None:
    a = cr.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = a * 2
    a.data = np.array([1.0, 2.0])  # float64 now
    with pytest.raises(RuntimeError, match=r"mul.*float32.*float64"):
        y.sum().backward()


def test_new_shape_before_use_is_kept() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    (a * 2).sum().backward()
    a.grad = None
    a.data = np.ones(3)
    (a * 2).sum().backward()
    assert a.grad is not None
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 2.0])


def test_nested_grad_follows_a_producer_detached_in_place() -> None:
    # d/dw sum(d/dx sum(exp(w) * x)) = exp(w); the inner derivative depends on w through h,
    # which was detached after exp used it. Before: the nesting test took h for a constant,
    # so the inner backward was not recorded and the outer gradient was silently zero.
    w0, x0 = np.array([0.5, 3.0]), np.array([1.0, 2.0])

    def inner(x: cr.Tensor, w: cr.Tensor) -> cr.Tensor:
        h = w * 1
        y = (h.exp() * x).sum()
        h.detach_()
        return y

    def outer(w: cr.Tensor) -> cr.Tensor:
        return cr.grad(lambda x: inner(x, w))(cr.tensor(x0)).sum()

    ours = cr.grad(outer)(cr.tensor(w0)).numpy()
    w, x = torch.tensor(w0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    h = w * 1
    y = (h.exp() * x).sum()
    h.detach_()
    (inner_grad,) = torch.autograd.grad(y, x, create_graph=True)
    inner_grad.sum().backward()
    assert w.grad is not None
    np.testing.assert_allclose(ours, w.grad.numpy(), rtol=1e-14)
    step = 1e-6
    numeric = [
        (np.exp(w0 + step * e).sum() - np.exp(w0 - step * e).sum()) / (2 * step) for e in np.eye(2)
    ]
    np.testing.assert_allclose(ours, numeric, rtol=1e-7)


# Cases after PyTorch's test_autograd (detach, detach_ of a base, in-place changes through a
# detached alias), restated here and run on both libraries.


def _detached_copy_can_become_a_new_leaf(lib: Library) -> dict[str, Any]:
    x = _tensor(lib, [[1.0, -2.0], [0.5, 3.0]])
    y = (x + 2).detach()
    z = y * 4 + 2
    y.requires_grad_()
    (x + y).sum().backward()
    return {"z.requires_grad": z.requires_grad, "x.grad": x.grad, "y.grad": y.grad}


def _detaching_a_base_leaf_keeps_its_view_recorded(lib: Library) -> dict[str, Any]:
    x = _tensor(lib, np.arange(12.0).reshape(4, 3))
    view = x.narrow(0, 1, 2)
    x.detach_()
    (view * view).sum().backward()
    return {
        "x.requires_grad": x.requires_grad,
        "view.requires_grad": view.requires_grad,
        "view.grad_fn is None": view.grad_fn is None,
        "x.grad": x.grad,
    }


def _detaching_a_computed_base_keeps_its_view_recorded(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0, 3.0])
    x = a * 2
    view = x[1:]
    x.detach_()
    (view * 5).sum().backward()
    return {"a.grad": a.grad, "view.is_leaf": view.is_leaf}


def _in_place_change_through_a_detached_alias(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a.exp()  # exp saves its output
    alias = x.detach()
    alias.mul_(2)
    x.sum().backward()
    return {"a.grad": a.grad}


def _detach_twice(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 3
    y = x * 2
    first = x.detach_()
    second = x.detach_()
    y.sum().backward()
    return {"same": first is x and second is x, "a.grad": a.grad}


PORTED = {
    "a detached copy can become a new leaf": _detached_copy_can_become_a_new_leaf,
    "detach_ of a base leaf keeps its view": _detaching_a_base_leaf_keeps_its_view_recorded,
    "detach_ of a computed base keeps its view": _detaching_a_computed_base_keeps_its_view_recorded,
    "in-place change through a detached alias": _in_place_change_through_a_detached_alias,
    "detach_ twice": _detach_twice,
}


@pytest.mark.parametrize("scenario", PORTED.values(), ids=PORTED.keys())
def test_ported_torch_detach_cases(scenario: Callable[[Library], dict[str, Any]]) -> None:
    _compare(scenario)


def _change_a_no_grad_view_of_a_computed_tensor(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    with lib.no_grad():
        view = x[:1]
    view.fill_(5.0)
    (x * x).sum().backward()
    return {"a.grad": a.grad}


def _change_a_no_grad_view_inside_no_grad(lib: Library) -> dict[str, Any]:
    a = _tensor(lib, [1.0, 2.0])
    x = a * 1
    with lib.no_grad():
        view = x[:1]
        view.fill_(5.0)
    (x * 3).sum().backward()
    return {"a.grad": a.grad, "x": x}


@pytest.mark.parametrize(
    "scenario",
    [_change_a_no_grad_view_of_a_computed_tensor, _change_a_no_grad_view_inside_no_grad],
    ids=["with grad enabled", "inside no_grad"],
)
def test_in_place_change_of_a_no_grad_view_as_torch(
    scenario: Callable[[Library], dict[str, Any]],
) -> None:
    # Before: allowed with grad enabled, so later uses of x took the written 5.0 for a*1.
    _compare(scenario)


def test_anomaly_mode_sweep_routes_like_the_plain_sweep() -> None:
    # detect_anomaly takes the general sweep (chainrule.graph._EagerSweep), not the plain one.
    plain = _outcome(_detach_inside_a_chain, cr)
    with cr.detect_anomaly():
        checked = _outcome(_detach_inside_a_chain, cr)
        refused = _outcome(_detach_an_input_its_consumer_saved, cr)
    for key in ("a.grad", "b.grad"):
        np.testing.assert_array_equal(_values(checked[key]), _values(plain[key]))
    assert refused["raised"] is RuntimeError
    assert "detached in place" in refused["message"]


def test_gradients_of_chosen_inputs_pass_a_node_detached_in_place() -> None:
    # graph.gradients (the sweep under cr.grad and the other transforms) with a computed
    # input and a leaf wanted, through h, detached in place after exp used it.
    from chainrule.graph import gradients

    values = np.array([0.3, -0.7])
    results = []
    for lib in (cr, torch):
        a = _tensor(lib, values)
        x = a * 2
        h = x * 1
        y = (h.exp() * 3).sum()
        h.detach_()
        if lib is torch:
            results.append(torch.autograd.grad(y, [x, a]))
        else:
            results.append(
                gradients(y, np.ones(()), [x, a], retain_graph=False, create_graph=False)
            )
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(results[0][1]), 6 * np.exp(2 * values), rtol=1e-14)


@pytest.mark.parametrize("through", ["base", "later view"])
def test_in_place_change_of_a_detached_base_with_a_recorded_view_is_refused(through: str) -> None:
    # PyTorch rebases the recorded view v onto the now constant base (no gradient reaches w
    # through it). Before, chainrule kept v's recorded graph and sent v[0]'s gradient to w
    # although v[0] now holds the constant 0.5: w.grad silently [2, 16, 0].
    w = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = w * 2
    v = b[0:2]
    b.detach_()
    target = b if through == "base" else b[0:1]
    with pytest.raises(RuntimeError, match=r"detach_\(\).*view.*recorded.*no_grad"):
        target[0] = 0.5
    (v * v).sum().backward()
    assert w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), [8.0, 16.0, 0.0])


def _change_after_the_view_graph_is_gone(lib: Library, how: str) -> dict[str, Any]:
    """b's recorded view v can no longer be back-propagated (its graph freed by backward, or
    v and its graph dropped, before or after b.detach_()); b is then changed in place."""
    w = _tensor(lib, [1.0, 2.0, 3.0])
    b = w * 2
    v = b[0:2]
    loss = (v * v).sum()
    if how == "backward":
        loss.backward()
    if how == "dropped before detach_":
        del v, loss
    b.detach_()
    if how == "dropped after detach_":
        del v, loss
    b[0] = 0.5
    c = (b * w).sum()  # b is a constant now: its gradient reaches w only through c's product
    w.grad = None
    c.backward()
    return {"b": _values(b), "w.grad": _values(w.grad)}


@pytest.mark.parametrize("how", ["backward", "dropped before detach_", "dropped after detach_"])
def test_in_place_change_of_a_detached_base_is_allowed_once_its_view_graph_is_gone(
    how: str,
) -> None:
    # Before, the refusal stayed for good once a view had been recorded (a flag never
    # cleared), though no gradient could pass the view any more; torch allows the change.
    ours = _change_after_the_view_graph_is_gone(cr, how)
    theirs = _change_after_the_view_graph_is_gone(torch, how)
    for key in ("b", "w.grad"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-15)
    np.testing.assert_allclose(ours["w.grad"], [0.5, 4.0, 6.0])


def test_a_view_whose_graph_was_freed_refuses_its_next_backward_not_a_silent_gradient() -> None:
    # The change is allowed because v's freed graph refuses any later backward through it.
    w = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = w * 2
    v = b[0:2]
    (v * v).sum().backward()
    b.detach_()
    b[0] = 0.5
    with pytest.raises(RuntimeError, match="already freed"):
        (v * 3).sum().backward()


def test_a_retained_view_graph_keeps_the_refusal() -> None:
    w = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = w * 2
    v = b[0:2]
    loss = (v * v).sum()
    loss.backward(retain_graph=True)
    del loss  # v itself still holds its graph
    b.detach_()
    with pytest.raises(RuntimeError, match=r"detach_\(\).*view.*recorded"):
        b[0] = 0.5
    del v
    b[0] = 0.5  # v and its graph gone: nothing can pass a gradient through it now
    assert b.numpy().tolist() == [0.5, 4.0, 6.0]


def test_a_tensor_viewed_every_step_keeps_a_bounded_list_of_recorded_views() -> None:
    w = cr.tensor(np.ones((3, 2)), requires_grad=True)
    for _ in range(1000):
        (w.T * 2).sum().backward()
    assert len(w._counter.recorded_views) < 40


def test_in_place_change_of_a_detached_tensor_without_recorded_views_is_allowed() -> None:
    w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = w * 2
    with cr.no_grad():
        b[0:1]  # an unrecorded view
    c = (b * b).sum()
    b.detach_()
    b.add_(1.0)  # as torch: c's graph did not save b's values for a rule that reads them
    assert b.numpy().tolist() == [3.0, 5.0]
    with pytest.raises(RuntimeError, match="in place"):
        c.backward()


SAVING_THEIR_OUTPUT = {
    "exp": lambda y: y.exp().sum(),
    "sigmoid": lambda y: y.sigmoid().sum(),
    "tanh": lambda y: y.tanh().sum(),
    "sqrt": lambda y: y.sqrt().sum(),
}


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("op", list(SAVING_THEIR_OUTPUT))
def test_second_derivative_through_an_input_detached_in_place_as_torch(op: str) -> None:
    # The op saved its output, not the detached input, so torch's graph is whole. Before,
    # chainrule's recorded backward redid the op on the now constant input: the Hessian
    # silently lost every term through it (sqrt's: [1, 0.5, 0.25] for torch's zeros).
    def hessian_diagonal_sum(lib: Library) -> np.ndarray:
        w = _tensor(lib, [0.5, 1.0, 2.0])
        y = w * w
        out = SAVING_THEIR_OUTPUT[op](y)
        y.detach_()
        out.backward(create_graph=True)
        first = w.grad
        w.grad = None
        first.sum().backward()
        values = _values(w.grad)
        assert values is not None
        return values

    ours, theirs = hessian_diagonal_sum(cr), hessian_diagonal_sum(torch)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("value", [False, True])
def test_assigning_requires_grad_on_a_computed_tensor_is_refused_as_torch(value: bool) -> None:
    # Before, `y.requires_grad = False` was accepted on a computed tensor (the ops recorded
    # after it took y for a constant while its graph stayed); torch refuses any assignment
    # to a non-leaf's flag. The refusal leaves y and its graph as they were.
    for lib in (torch, cr):
        w = _tensor(lib, [0.5, 1.0, 2.0])
        y = w * w
        with pytest.raises(RuntimeError, match="leaf"):
            y.requires_grad = value
        assert y.requires_grad
    fix = r"detach\(\).*detach_\(\)" if not value else "drop the assignment"
    with pytest.raises(RuntimeError, match=rf"requires_grad =.*\(mul\); .*{fix}"):
        y.requires_grad = value
    y.sum().backward()
    np.testing.assert_allclose(_values(w.grad), [1.0, 2.0, 4.0])


def test_requires_grad_false_on_a_computed_tensor_is_refused_by_requires_grad_too() -> None:
    w = _tensor(cr, [0.5, 1.0])
    with pytest.raises(RuntimeError, match=r"requires_grad_: only a leaf.*detach\(\)"):
        (w * 2).requires_grad_(False)


def test_an_integer_tensor_cannot_be_assigned_requires_grad() -> None:
    t = cr.Tensor.from_numpy(np.arange(3))
    with pytest.raises(TypeError, match=r"requires_grad =: only floating-point.*int64"):
        t.requires_grad = True
    assert not t.requires_grad


@pytest.mark.parametrize("flag_after", [False, True], ids=["stays off", "set back on"])
def test_second_derivative_through_an_input_detached_in_place_before_use_as_torch_detach(
    flag_after: bool,
) -> None:
    # y.detach_() before y * w: the op takes y for a constant (torch: y.detach()), so
    # d(y * w)/dw = y holds no w; setting the now-leaf y's flag back on changes nothing for w.
    w = _tensor(cr, [1.0, 2.0])
    y = w * 2
    y.detach_()
    out = (y * w).sum() + (w * w * w).sum()
    y.requires_grad = flag_after
    out.backward(create_graph=True)
    first = w.grad
    w.grad = None
    first.sum().backward()
    tw = _tensor(torch, [1.0, 2.0])
    constant = (tw * 2).detach()
    (expected,) = torch.autograd.grad((constant * tw).sum() + (tw**3).sum(), tw, create_graph=True)
    expected.sum().backward()
    np.testing.assert_allclose(_values(first), expected.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(_values(w.grad), _values(tw.grad), rtol=1e-13)
