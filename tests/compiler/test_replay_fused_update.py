"""A compiled replay of `zero_grad(); loss.backward(); opt.step()` with plain SGD makes the
update inside the backward plan (`compiler.backward.FusedUpdate`): large parameters right after
the last call that needs their old values, the rest after the backward. Parameters, `.grad`,
losses and optimizer state stay bit-identical to eager, and every case the fusion cannot
express (momentum, weight decay, Adam, hooks, a `.grad` read before the step, accumulation
without zero_grad, a parameter without gradient, replaced `.data`) runs the step as it is."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn, optim
from chainrule.compiler import backward
from chainrule.compiler.compiled import CompiledStep
from chainrule.nn.flat import flatten_parameters
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor

STEPS = 20
DTYPES = [np.float64, np.float32]


@pytest.fixture(params=["inside", "after"])
def placement(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every parameter updated inside the backward (the size rule set to 0: the ordering
    hazards are exercised on small parameters), or every one after it (the rule as large as
    no test parameter)."""
    monkeypatch.setattr(backward, "FUSE_MIN_SIZE", 0 if request.param == "inside" else 10**9)
    return str(request.param)


def _model(dtype: Any, flat: bool = True) -> nn.Sequential:
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(6, 16, rng=rng),
        nn.ReLU(),
        nn.Linear(16, 12, rng=rng),
        nn.ReLU(),
        nn.Linear(12, 3, rng=rng),
    )
    for param in model.parameters():
        param.data = param.data.astype(dtype)
    if flat:
        model.flatten_parameters()
    return model


def _batches(dtype: Any, steps: int = STEPS) -> list[tuple[Tensor, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        (cr.tensor(rng.standard_normal((5, 6)).astype(dtype)), rng.integers(0, 3, 5))
        for _ in range(steps)
    ]


def _sgd_step(model: nn.Module, optimizer: Optimizer, compiled: bool) -> Callable[..., Tensor]:
    """The plain training step of `model` (zero_grad, cross-entropy, backward, step), compiled
    or eager."""
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x: Tensor, y: np.ndarray) -> Tensor:
        optimizer.zero_grad()
        loss: Tensor = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return cr.compile(train_step) if compiled else train_step


def _train(
    dtype: Any,
    make_optimizer: Callable[[list[Tensor]], Optimizer],
    compiled: bool,
    flat: bool = True,
    steps: int = STEPS,
) -> tuple[list[np.ndarray], list[np.ndarray], list[float], Optimizer, Any]:
    """The model trained `steps` steps: its parameters, last gradients, losses, optimizer and
    the (compiled or eager) step function."""
    model = _model(dtype, flat)
    optimizer = make_optimizer(list(model.parameters()))
    step = _sgd_step(model, optimizer, compiled)
    losses = [float(step(x, y).item()) for x, y in _batches(dtype, steps)]
    params = [param.data.copy() for param in model.parameters()]
    grads = [param.grad.data.copy() for param in model.parameters()]  # type: ignore[union-attr]
    return params, grads, losses, optimizer, step


def _assert_same_bits(first: list[Any], second: list[Any]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a is not None
        assert b is not None
        assert a.shape == b.shape
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _program(step: Any) -> Any:
    assert isinstance(step, CompiledStep)
    ((program, _),) = step.programs.values()
    return program


@pytest.fixture
def code_called() -> Callable[[Callable[[], Any]], set[CodeType]]:
    """Runs an action and returns the code objects of the Python functions it called."""

    def run(action: Callable[[], Any]) -> set[CodeType]:
        called: set[CodeType] = set()

        def note(frame: FrameType, event: str, arg: Any) -> None:
            if event == "call":
                called.add(frame.f_code)

        previous = sys.getprofile()
        sys.setprofile(note)
        try:
            action()
        finally:
            sys.setprofile(previous)
        return called

    return run


SGD_SETTINGS = {
    "plain": {"lr": 0.1},
    "momentum": {"lr": 0.1, "momentum": 0.9},
    "dampening": {"lr": 0.1, "momentum": 0.9, "dampening": 0.3},
    "nesterov": {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    "weight_decay": {"lr": 0.1, "weight_decay": 0.01},
    "maximize": {"lr": 0.1, "maximize": True},
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("setting", list(SGD_SETTINGS))
def test_compiled_sgd_is_bit_identical_to_eager_over_20_steps(
    dtype: Any, setting: str, placement: str
) -> None:
    def make(params: list[Tensor]) -> Optimizer:
        return optim.SGD(params, **SGD_SETTINGS[setting])

    eager = _train(dtype, make, compiled=False)
    compiled = _train(dtype, make, compiled=True)
    _assert_same_bits(eager[0], compiled[0])
    _assert_same_bits(eager[1], compiled[1])
    assert eager[2] == compiled[2]


@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_adam_is_bit_identical_to_eager_over_20_steps(dtype: Any, placement: str) -> None:
    def make(params: list[Tensor]) -> Optimizer:
        return optim.Adam(params, lr=0.01)

    eager = _train(dtype, make, compiled=False)
    compiled = _train(dtype, make, compiled=True)
    _assert_same_bits(eager[0], compiled[0])
    _assert_same_bits(eager[1], compiled[1])
    assert eager[2] == compiled[2]
    assert compiled[3].state_dict()["state"][0]["step"] == STEPS


def test_plain_sgd_replay_makes_the_update_inside_the_backward_and_never_calls_step(
    code_called: Callable[[Callable[[], Any]], set[CodeType]],
) -> None:
    *_, step = _train(np.float64, lambda params: optim.SGD(params, lr=0.1), compiled=True)
    fused = _program(step).fused
    assert fused is not None
    x, y = _batches(np.float64, 1)[0]
    called = code_called(lambda: step(x, y))
    assert backward.FusedUpdate.finish.__code__ in called
    assert Optimizer.step.__code__ not in called
    assert Optimizer._update_flat.__code__ not in called


@pytest.mark.parametrize("setting", ["momentum", "weight_decay"])
def test_sgd_with_state_or_decay_runs_its_own_step_in_the_replay(
    setting: str, code_called: Callable[[Callable[[], Any]], set[CodeType]]
) -> None:
    *_, step = _train(
        np.float64, lambda params: optim.SGD(params, **SGD_SETTINGS[setting]), compiled=True
    )
    x, y = _batches(np.float64, 1)[0]
    called = code_called(lambda: step(x, y))
    assert Optimizer.step.__code__ in called
    assert backward.FusedUpdate.finish.__code__ not in called


def _maximize_from_call_4(compiled: bool) -> list[np.ndarray]:
    """Six SGD steps whose group maximizes from the fourth on: the parameters after them."""
    model = _model(np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    step = _sgd_step(model, optimizer, compiled)
    for position, (x, y) in enumerate(_batches(np.float32, 6)):
        optimizer.param_groups[0]["maximize"] = position >= 3
        step(x, y)
    return [param.data.copy() for param in model.parameters()]


def test_maximize_switched_on_between_calls_makes_the_replay_ascend_as_eager(
    placement: str,
) -> None:
    # The fused update is p -= lr * g: a maximizing group must run SGD's own step.
    _assert_same_bits(_maximize_from_call_4(False), _maximize_from_call_4(True))


def test_optimizer_state_dict_after_20_compiled_steps_equals_eagers(placement: str) -> None:
    def make(params: list[Tensor]) -> Optimizer:
        return optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}], lr=0.1)

    eager_state = _train(np.float64, make, compiled=False)[3].state_dict()
    compiled_state = _train(np.float64, make, compiled=True)[3].state_dict()
    assert compiled_state == eager_state


def test_two_groups_with_their_own_rates_stay_bit_identical_and_fused(placement: str) -> None:
    def make(params: list[Tensor]) -> Optimizer:
        return optim.SGD([{"params": params[:3]}, {"params": params[3:], "lr": 0.02}], lr=0.1)

    eager = _train(np.float32, make, compiled=False)
    compiled = _train(np.float32, make, compiled=True)
    _assert_same_bits(eager[0], compiled[0])
    assert _program(compiled[4]).fused is not None


# Ported from PyTorch's test_optim (`test_foreach_matches_forloop`): the multi-tensor update
# must equal the per-parameter for-loop; here the fused replay against an eager model whose
# parameters are not flattened (SGD's per-parameter loop), in both dtypes.
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_replay_matches_the_per_parameter_for_loop(dtype: Any, placement: str) -> None:
    def make(params: list[Tensor]) -> Optimizer:
        return optim.SGD(params, lr=0.1)

    loop = _train(dtype, make, compiled=False, flat=False)
    fused = _train(dtype, make, compiled=True)
    _assert_same_bits(loop[0], fused[0])
    _assert_same_bits(loop[1], fused[1])


# Also after PyTorch's test_optim: a learning rate changed between steps (a scheduler, or a
# hand-set param_groups entry) is the one the next update uses.
def test_a_scheduler_stepped_between_calls_sets_each_fused_updates_rate(placement: str) -> None:
    results = []
    for compiled in (False, True):
        model = _model(np.float64)
        optimizer = optim.SGD(model.parameters(), lr=0.5)
        scheduler = optim.StepLR(optimizer, step_size=3, gamma=0.5)
        step = _sgd_step(model, optimizer, compiled)
        for position, (x, y) in enumerate(_batches(np.float64)):
            step(x, y)
            scheduler.step()
            if position == 10:
                optimizer.param_groups[0]["lr"] = 0.3
        results.append([param.data.copy() for param in model.parameters()])
    _assert_same_bits(results[0], results[1])


def test_a_scheduler_stepped_inside_the_step_is_seen_by_the_next_call(placement: str) -> None:
    results = []
    for compiled in (False, True):
        model = _model(np.float32)
        optimizer = optim.SGD(model.parameters(), lr=0.5)
        scheduler = optim.CosineAnnealingLR(optimizer, T_max=STEPS)
        loss_fn = nn.CrossEntropyLoss()

        def train_step(
            x: Tensor,
            y: np.ndarray,
            model: nn.Module = model,
            optimizer: Optimizer = optimizer,
            scheduler: Any = scheduler,
            loss_fn: nn.Module = loss_fn,
        ) -> Tensor:
            optimizer.zero_grad()
            loss: Tensor = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            return loss

        step = cr.compile(train_step) if compiled else train_step
        for x, y in _batches(np.float32):
            step(x, y)
        results.append([param.data.copy() for param in model.parameters()])
    _assert_same_bits(results[0], results[1])


def _train_custom(
    forward: Callable[[dict[str, Tensor], Tensor], Tensor],
    shapes: dict[str, tuple[int, ...]],
    compiled: bool,
    between: Callable[[dict[str, Tensor]], None] | None = None,
    zero_grad: bool = True,
    steps: int = 8,
) -> tuple[list[np.ndarray], list[np.ndarray | None], Any]:
    """Parameters of `shapes` in one flat buffer, trained `steps` steps with plain SGD on `forward`
    (a classifier into 3 classes, float64); `between` runs inside the step after backward."""
    rng = np.random.default_rng(5)
    params = {
        name: cr.tensor(rng.standard_normal(shape) * 0.5, requires_grad=True)
        for name, shape in shapes.items()
    }
    flatten_parameters(params.values())
    optimizer = optim.SGD(params.values(), lr=0.1)

    def train_step(x: Tensor, y: np.ndarray) -> Tensor:
        if zero_grad:
            optimizer.zero_grad()
        loss = F.cross_entropy(forward(params, x), y)
        loss.backward()
        if between is not None:
            between(params)
        optimizer.step()
        return loss

    step = cr.compile(train_step) if compiled else train_step
    data = np.random.default_rng(6)
    for _ in range(steps):
        step(cr.tensor(data.standard_normal((5, 4))), data.integers(0, 3, 5))
    return (
        [p.data.copy() for p in params.values()],
        [None if p.grad is None else p.grad.data.copy() for p in params.values()],
        step,
    )


def _tied(params: dict[str, Tensor], x: Tensor) -> Tensor:
    """One square weight read by two layers: its update must wait for the second reader."""
    hidden = F.linear(x, params["w"], params["b"]).relu()
    hidden = F.linear(hidden, params["w"], params["b"]).relu()
    return F.linear(hidden, params["head"], params["head_bias"])


def _transposed(params: dict[str, Tensor], x: Tensor) -> Tensor:
    """A weight read through its transpose (a view of its memory), then directly by a later
    layer: its gradient is written by the later layer's kernel first, and its values are
    read again by the earlier one's."""
    hidden = (x @ params["w"].T).relu()
    hidden = (hidden @ params["w"]).relu()
    return hidden @ params["head"]


TIED = {"w": (4, 4), "b": (4,), "head": (4, 3), "head_bias": (3,)}
TRANSPOSED = {"w": (7, 4), "head": (4, 3)}


@pytest.mark.parametrize(
    ("forward", "shapes"), [(_tied, TIED), (_transposed, TRANSPOSED)], ids=["tied", "transposed"]
)
def test_a_weight_read_twice_is_updated_after_its_last_reader(
    forward: Callable[[dict[str, Tensor], Tensor], Tensor],
    shapes: dict[str, tuple[int, ...]],
    placement: str,
) -> None:
    eager = _train_custom(forward, shapes, compiled=False)
    compiled = _train_custom(forward, shapes, compiled=True)
    _assert_same_bits(eager[0], compiled[0])
    _assert_same_bits(eager[1], compiled[1])
    assert _program(compiled[2]).fused is not None


def test_a_grad_read_between_backward_and_step_keeps_the_step_after_it() -> None:
    def scale(params: dict[str, Tensor]) -> None:
        for param in params.values():
            param.grad = param.grad * 0.5  # type: ignore[operator]

    eager = _train_custom(_tied, TIED, compiled=False, between=scale)
    compiled = _train_custom(_tied, TIED, compiled=True, between=scale)
    _assert_same_bits(eager[0], compiled[0])
    _assert_same_bits(eager[1], compiled[1])
    assert _program(compiled[2]).fused is None


def test_gradients_accumulated_without_zero_grad_run_the_step_as_it_is(placement: str) -> None:
    eager = _train_custom(_tied, TIED, compiled=False, zero_grad=False)
    compiled = _train_custom(_tied, TIED, compiled=True, zero_grad=False)
    _assert_same_bits(eager[0], compiled[0])
    _assert_same_bits(eager[1], compiled[1])


# After PyTorch's test_optim: a parameter that gets no gradient is left as it is.
def test_a_parameter_without_a_gradient_is_left_alone_and_the_rest_stay_identical() -> None:
    def unused_head_bias(params: dict[str, Tensor], x: Tensor) -> Tensor:
        hidden = F.linear(x, params["w"], params["b"]).relu()
        return hidden @ params["head"]

    eager = _train_custom(unused_head_bias, TIED, compiled=False)
    compiled = _train_custom(unused_head_bias, TIED, compiled=True)
    _assert_same_bits(eager[0], compiled[0])
    assert list(TIED) == ["w", "b", "head", "head_bias"]
    np.testing.assert_array_equal(compiled[0][3], _train_custom(_tied, TIED, False, steps=0)[0][3])


def test_a_step_hook_added_between_calls_runs_and_the_update_stays_identical(
    placement: str,
) -> None:
    results, calls = [], []
    for compiled in (False, True):
        model = _model(np.float64)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        step = _sgd_step(model, optimizer, compiled)
        seen: list[float] = []
        for position, (x, y) in enumerate(_batches(np.float64, 8)):
            if position == 4:

                def halve_rate(opt: Optimizer, seen: list[float] = seen) -> None:
                    opt.param_groups[0]["lr"] *= 0.5
                    seen.append(opt.param_groups[0]["lr"])

                optimizer.register_step_pre_hook(halve_rate)
            step(x, y)
        results.append([param.data.copy() for param in model.parameters()])
        calls.append(seen)
    _assert_same_bits(results[0], results[1])
    assert calls[0] == calls[1] == [0.05, 0.025, 0.0125, 0.00625]


def test_replaced_parameter_data_between_calls_is_updated_as_eager_does(placement: str) -> None:
    results = []
    for compiled in (False, True):
        model = _model(np.float64)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        step = _sgd_step(model, optimizer, compiled)
        for position, (x, y) in enumerate(_batches(np.float64, 8)):
            if position == 4:
                first = next(iter(model.parameters()))
                first.data = first.data * 0.5
            step(x, y)
        results.append([param.data.copy() for param in model.parameters()])
    _assert_same_bits(results[0], results[1])


def test_a_replay_stays_on_its_plan_after_another_model_is_flattened(
    code_called: Callable[[Callable[[], Any]], set[CodeType]],
) -> None:
    *_, step = _train(np.float64, lambda params: optim.SGD(params, lr=0.1), compiled=True)
    # Another model's parameters flattened: gradient slots change, not this model's.
    flatten_parameters([cr.tensor(np.zeros(3), requires_grad=True)])
    x, y = _batches(np.float64, 1)[0]
    called = code_called(lambda: step(x, y))
    assert backward.FusedUpdate.finish.__code__ in called


def test_a_graph_that_saved_a_parameter_refuses_its_backward_after_a_fused_update() -> None:
    # The update changes the parameters in place, so each counts one in-place change, as the
    # eager step's: a graph built on the old values must not run its backward on the new.
    model = _model(np.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()

    @cr.compile
    def train_step(x: Tensor, y: np.ndarray) -> Tensor:
        optimizer.zero_grad()
        loss: Tensor = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    batches = _batches(np.float64, 4)
    for x, y in batches[:3]:
        train_step(x, y)
    assert _program(train_step).fused is not None
    stale = model(batches[3][0]).sum()
    train_step(*batches[3])
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()


class _ClippedSGD(optim.SGD):
    """SGD whose update clips each value to [-0.2, 0.2] afterwards: a subclass's own rule."""

    def _update(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        state: dict[str, Any],
        group: dict[str, Any],
        param: Tensor,
    ) -> None:
        super()._update(value, grad, state, group, param)
        np.clip(value, -0.2, 0.2, out=value)


def test_a_subclass_with_its_own_update_rule_runs_its_own_step() -> None:
    def make(params: list[Tensor]) -> Optimizer:
        return _ClippedSGD(params, lr=0.1)

    eager = _train(np.float64, make, compiled=False)
    compiled = _train(np.float64, make, compiled=True)
    _assert_same_bits(eager[0], compiled[0])
    assert max(float(np.abs(values).max()) for values in compiled[0]) <= 0.2
