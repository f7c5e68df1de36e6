"""What a compiled step does with `.grad` is what eager execution does: clearing a gradient
(`w.grad = None`, `del w.grad`, `zero_grad`) is replayed where the step did it, and what a
replay cannot repeat (an in-place change of a gradient, a tensor assigned to `.grad`, a change
of `requires_grad`) is refused at trace time, naming the statement to move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, compile

Params = list[cr.Tensor]
Step = Callable[..., Any]


def _params() -> Params:
    rng = np.random.default_rng(11)
    return [cr.tensor(rng.standard_normal(3), requires_grad=True) for _ in range(2)]


def _batches(count: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(12)
    return [rng.standard_normal((2, 3)) for _ in range(count)]


def _state(params: Params, result: Any) -> list[np.ndarray | None]:
    """Every parameter's values and gradient, and the step's returned arrays, copied."""
    results = result if isinstance(result, (tuple, list)) else [result]
    arrays: list[np.ndarray | None] = [r.numpy().copy() for r in results if r is not None]
    for param in params:
        arrays.append(param.numpy().copy())
        arrays.append(None if param.grad is None else param.grad.numpy().copy())
    return arrays


def _assert_compiled_matches_eager(make_step: Callable[[Params], Step], calls: int = 4) -> None:
    """Fresh parameters run eagerly and compiled (a trace, then replays) agree bit for bit
    after every call: values, gradients (None where eager has None) and results."""
    histories = []
    for compiled in (False, True):
        params = _params()
        step = make_step(params)
        run = compile(step) if compiled else step
        histories.append([_state(params, run(x)) for x in _batches(calls)])
    eager, replayed = histories
    for call, (eager_state, replayed_state) in enumerate(zip(eager, replayed, strict=True)):
        for eager_array, replayed_array in zip(eager_state, replayed_state, strict=True):
            if eager_array is None or replayed_array is None:
                assert eager_array is replayed_array, f"call {call}: a .grad is None in one run"
            else:
                assert replayed_array.shape == eager_array.shape
                assert replayed_array.dtype == eager_array.dtype == np.float64
                np.testing.assert_array_equal(replayed_array, eager_array, err_msg=f"call {call}")


def _loss(params: Params, x: np.ndarray) -> cr.Tensor:
    w, v = params
    return (cr.tensor(x) * w).sum() + ((cr.tensor(x) * v).tanh() ** 2).sum()


# ------------------------------------------------------------------ clearing is replayed
def test_grad_set_to_none_at_the_start_of_the_step_is_replayed() -> None:
    """The reported case: without the replayed assignment, gradients piled up across calls."""

    def make_step(params: Params) -> Step:
        (w, _) = params

        def step(x: np.ndarray) -> cr.Tensor:
            w.grad = None
            loss = (cr.tensor(x) * w).sum()
            loss.backward()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_grad_set_to_none_for_every_parameter_in_a_loop_is_replayed() -> None:
    def make_step(params: Params) -> Step:
        def step(x: np.ndarray) -> cr.Tensor:
            for param in params:
                param.grad = None
            loss = _loss(params, x)
            loss.backward()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_del_grad_inside_the_step_is_replayed_as_clearing_it() -> None:
    def make_step(params: Params) -> Step:
        def step(x: np.ndarray) -> cr.Tensor:
            for param in params:
                del param.grad
            loss = _loss(params, x)
            loss.backward()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_del_grad_leaves_grad_none_as_in_pytorch() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    del w.grad
    assert w.grad is None


def test_grad_set_to_none_on_only_some_parameters_is_replayed() -> None:
    """v's gradient accumulates across calls, w's is cleared: both as eagerly."""

    def make_step(params: Params) -> Step:
        (w, _) = params

        def step(x: np.ndarray) -> cr.Tensor:
            w.grad = None
            loss = _loss(params, x)
            loss.backward()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_grad_set_to_none_between_two_backward_calls_is_replayed() -> None:
    def make_step(params: Params) -> Step:
        (w, v) = params

        def step(x: np.ndarray) -> cr.Tensor:
            first = _loss(params, x)
            first.backward()
            w.grad = None
            second = (cr.tensor(x) * w * v).sum()
            second.backward()
            return second

        return step

    _assert_compiled_matches_eager(make_step)


def test_module_zero_grad_set_to_none_inside_the_step_matches_eager() -> None:
    def make_step(params: Params) -> Step:
        module = cr.nn.Module()
        module.w, module.v = (cr.nn.Parameter(p.data) for p in params)
        params[:] = [module.w, module.v]
        optimizer = cr.optim.SGD(params, lr=0.1)

        def step(x: np.ndarray) -> cr.Tensor:
            module.zero_grad(set_to_none=True)
            loss = _loss(params, x)
            loss.backward()
            optimizer.step()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_optimizer_zero_grad_keeping_the_tensors_inside_the_step_matches_eager() -> None:
    def make_step(params: Params) -> Step:
        optimizer = cr.optim.SGD(params, lr=0.1, momentum=0.9)

        def step(x: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad(set_to_none=False)
            loss = _loss(params, x)
            loss.backward()
            optimizer.step()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_grad_set_to_none_then_an_optimizer_step_is_replayed() -> None:
    """Clearing by hand, as PyTorch users write `for p in params: p.grad = None`, then a
    replayed optimizer step: the parameters follow eager's exactly."""

    def make_step(params: Params) -> Step:
        optimizer = cr.optim.Adam(params, lr=0.01)

        def step(x: np.ndarray) -> cr.Tensor:
            for param in params:
                param.grad = None
            loss = _loss(params, x)
            loss.backward()
            optimizer.step()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_a_step_returning_a_grad_matches_eager() -> None:
    def make_step(params: Params) -> Step:
        (w, _) = params

        def step(x: np.ndarray) -> tuple[cr.Tensor, cr.Tensor]:
            w.grad = None
            loss = _loss(params, x)
            loss.backward()
            assert w.grad is not None
            return loss, w.grad

        return step

    _assert_compiled_matches_eager(make_step)


def test_a_computed_grad_assignment_is_replayed_before_the_optimizer_step() -> None:
    def make_step(params: Params) -> Step:
        optimizer = cr.optim.SGD(params, lr=0.1)

        def step(x: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = _loss(params, x)
            loss.backward()
            with cr.no_grad():
                for param in params:
                    assert param.grad is not None
                    param.grad = param.grad * 0.5
            optimizer.step()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_a_computed_grad_left_in_grad_then_accumulated_into_is_replayed() -> None:
    """The clipped tensor stays in .grad across calls, and the next call's backward adds into
    it in place: each replay assigns its own clipped tensor, as eagerly."""

    def make_step(params: Params) -> Step:
        (w, _) = params

        def step(x: np.ndarray) -> cr.Tensor:
            loss = _loss(params, x)
            loss.backward()
            with cr.no_grad():
                assert w.grad is not None
                w.grad = w.grad.clip(-0.5, 0.5)
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_gradient_clipping_by_norm_written_out_of_place_is_replayed() -> None:
    """Clipping by the global norm by hand, with the scale computed from the gradients in
    the step (torch.nn.utils.clip_grad_norm_'s arithmetic), as `p.grad = p.grad * scale`."""

    def make_step(params: Params) -> Step:
        optimizer = cr.optim.SGD(params, lr=0.1)

        def step(x: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = _loss(params, x)
            loss.backward()
            with cr.no_grad():
                grads = [param.grad for param in params]
                assert all(grad is not None for grad in grads)
                total = sum((grad * grad).sum() for grad in grads if grad is not None)
                scale = cr.minimum(1.0 / (total.sqrt() + 1e-6), cr.tensor(1.0, dtype=np.float64))
                for param in params:
                    assert param.grad is not None
                    param.grad = param.grad * scale
            optimizer.step()
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


def test_a_grad_set_to_another_parameters_grad_is_replayed() -> None:
    def make_step(params: Params) -> Step:
        (w, v) = params

        def step(x: np.ndarray) -> cr.Tensor:
            w.grad = None
            v.grad = None
            loss = _loss(params, x)
            loss.backward()
            assert w.grad is not None
            v.grad = w.grad * 1.0
            return loss

        return step

    _assert_compiled_matches_eager(make_step)


# ------------------------------------------------------------- what cannot be replayed
def _trace(step: Step) -> None:
    compile(step)(_batches(1)[0])


IN_PLACE_GRAD_CHANGES: dict[str, Callable[[cr.Tensor], Any]] = {
    "zero_": lambda grad: grad.zero_(),
    "setitem": lambda grad: grad.__setitem__(..., 0.0),
    "imul": lambda grad: grad.__imul__(0.5),
    "mul_": lambda grad: grad.mul_(0.5),
}


@pytest.mark.parametrize("change", IN_PLACE_GRAD_CHANGES.values(), ids=IN_PLACE_GRAD_CHANGES)
def test_in_place_change_of_a_grad_inside_the_step_is_refused_naming_the_grad(
    change: Callable[[cr.Tensor], Any],
) -> None:
    params = _params()

    def step(x: np.ndarray) -> cr.Tensor:
        loss = _loss(params, x)
        loss.backward()
        with cr.no_grad():
            for param in params:
                change(param.grad)
        return loss

    with pytest.raises(CompileError, match=r"the \.grad of a tensor of shape \(3,\)"):
        _trace(step)


def test_gradient_clipping_by_hand_inside_the_step_is_refused_naming_the_fix() -> None:
    """`for p in params: p.grad *= scale`: fold the scale into the loss instead."""
    params = _params()

    def step(x: np.ndarray) -> cr.Tensor:
        loss = _loss(params, x)
        loss.backward()
        for param in params:
            assert param.grad is not None
            param.grad *= 0.5
        return loss

    with pytest.raises(CompileError, match=r"out of place \(`p\.grad = p\.grad \* scale`"):
        _trace(step)


def test_a_computed_grad_of_a_parameter_the_step_never_used_is_refused() -> None:
    """`v.grad = v.grad * 2` where v is not otherwise in the step: its gradient entered the
    trace as a constant, so a replay would double the first call's gradient again."""
    w, v = _params()
    v.grad = cr.tensor(np.ones(3))

    def step(x: np.ndarray) -> cr.Tensor:
        w.grad = None
        loss = (cr.tensor(x) * w).sum()
        loss.backward()
        with cr.no_grad():
            v.grad = v.grad * 2
        return loss

    with pytest.raises(
        CompileError, match=r"v\.grad = v\.grad \* 2.*took the gradient for a constant"
    ):
        _trace(step)


def test_a_new_tensor_assigned_to_grad_is_refused() -> None:
    """A fresh zeros tensor each eager call; a replay would keep adding into the first one."""
    (w, _) = _params()

    def step(x: np.ndarray) -> cr.Tensor:
        w.grad = cr.tensor(np.zeros(3))
        loss = (cr.tensor(x) * w).sum()
        loss.backward()
        return loss

    with pytest.raises(CompileError, match=r"w\.grad = cr\.tensor\(np\.zeros\(3\)\)"):
        _trace(step)


def test_requires_grad_changed_inside_the_step_is_refused() -> None:
    w, v = _params()

    def step(x: np.ndarray) -> cr.Tensor:
        v.requires_grad_(False)
        loss = (cr.tensor(x) * w * v).sum()
        loss.backward()
        v.requires_grad_(True)
        return loss

    with pytest.raises(CompileError, match=r"requires_grad_\(\)"):
        _trace(step)


def test_a_tensor_made_with_requires_grad_inside_the_step_is_not_refused() -> None:
    """Only a change of an existing tensor's flag is refused, not a new leaf's creation."""

    def step(x: np.ndarray) -> cr.Tensor:
        scale = cr.tensor(2.0, requires_grad=True, dtype=np.float64)
        return (cr.tensor(x) * scale).sum()

    _trace(step)


# ------------------------------------------------------------------ PyTorch as the oracle
# After PyTorch's test_autograd accumulate-grad cases: gradients add up across backward calls
# until `.grad` is set to None or deleted, which makes the next backward store a fresh one.
CLEARINGS: dict[str, Callable[[Any], None]] = {
    "assign None": lambda param: setattr(param, "grad", None),
    "del": lambda param: delattr(param, "grad"),
    "keep": lambda param: None,
}


@pytest.mark.parametrize("clear", CLEARINGS.values(), ids=CLEARINGS)
def test_a_compiled_step_clearing_grad_by_hand_matches_pytorch(
    torch: Any, clear: Callable[[Any], None]
) -> None:
    start = np.random.default_rng(13).standard_normal(3)
    w = cr.tensor(start.copy(), requires_grad=True)
    w_torch = torch.tensor(start.copy(), requires_grad=True)
    optimizer = cr.optim.SGD([w], lr=0.1)

    @compile
    def step(x: np.ndarray) -> cr.Tensor:
        clear(w)
        loss = (cr.tensor(x) * w).tanh().sum()
        loss.backward()
        optimizer.step()
        return loss

    for x in _batches(4):
        step(x)
        clear(w_torch)
        (torch.from_numpy(x) * w_torch).tanh().sum().backward()
        with torch.no_grad():
            w_torch -= 0.1 * w_torch.grad
        assert w.grad is not None
        assert w.grad.shape == tuple(w_torch.grad.shape)
        np.testing.assert_allclose(w.grad.numpy(), w_torch.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(w.numpy(), w_torch.detach().numpy(), rtol=1e-12)
