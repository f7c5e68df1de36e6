"""Global switches of the engine: whether ops are recorded, and whether NaN/inf is hunted.

`no_grad()` turns recording off (evaluation, optimizer updates); `detect_anomaly()` checks
every forward output and backward gradient for NaN/inf and names the op and the user's line.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import linecache
import os
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, overload

if TYPE_CHECKING:
    import numpy as np

    from chainrule.primitives import Primitive
    from chainrule.tensor import Tensor

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class CompileError(ValueError):
    """The step cannot be replayed faithfully; the message says what to change.

    (`chainrule.compile`'s error; defined here so that ops can let it through unchanged.)"""


class StepTracer(Protocol):
    """What the engine asks of a tracer (`chainrule.compile`'s, in `chainrule.compiler`)
    while a step is traced: the core calls these and never imports the compiler."""

    def record_op(
        self,
        primitive: type[Primitive],
        inputs: tuple[Tensor, ...],
        params: dict[str, Any],
        result: Tensor,
    ) -> None:
        """`result` was computed as primitive(*inputs, **params)."""

    def record_backward(self, root: Tensor, grad: Any, create_graph: bool) -> None:
        """`root.backward(grad, create_graph=create_graph)` ran here."""

    def record_effect(self, effect: Callable[[], Any], frame: FrameType | None = None) -> None:
        """`effect()` (an optimizer's step, zero_grad) ran here; `frame` is its running call."""

    def in_effect(self, frame: FrameType | None) -> bool:
        """Whether `frame` runs inside a recorded effect (is one, or is called by one)."""

    def record_effect_result(self, result: Tensor, what: str, fix: str) -> None:
        """`result` (`what`) was returned by a recorded effect, whose replay does not hand it
        to the step: raise CompileError, saying `fix`, if the step uses or returns it."""

    def record_grad_assignment(self, leaf: Tensor, grad: Tensor | None) -> None:
        """`leaf.grad = grad` (or `del leaf.grad`) runs here; raise CompileError if a replay
        cannot repeat it."""

    def refuse_requires_grad_change(self, tensor: Tensor) -> None:
        """Raise CompileError if `tensor.requires_grad_()` here cannot be replayed."""

    def refuse_conversion(self, tensor: Tensor, conversion: str, hint: str = "") -> None:
        """Raise CompileError: `tensor` is turned into a Python or NumPy value in the step."""

    def refuse_mutation(self, tensor: Tensor, op: str) -> None:
        """Raise CompileError: `tensor` is changed in place by the step itself."""

    def numpy_of(self, tensor: Tensor) -> np.ndarray:
        """`tensor.numpy()` while the step is traced: for the step's own code, a view whose
        reads into Python are noted or refused (`chainrule.compiler.arguments`)."""

    def data_of(self, tensor: Tensor) -> Any:
        """`tensor.data` while the step is traced: as `numpy_of` for an ndarray."""


class GradAttribute:
    """`Tensor.grad`: the gradient backward accumulated into a leaf, or None. Assigning None or
    deleting it (`del t.grad`, as in PyTorch) clears it. While chainrule.compile traces a step,
    the tracer sees each assignment, to replay it at that point or refuse it. (Defined here,
    beside the tracer protocol it calls, so the tensor module stays the bare data model.)"""

    def __set_name__(self, owner: type, name: str) -> None:
        # The Tensor class itself, known here without importing it (tensor.py imports us).
        self.tensor_type = owner

    @overload
    def __get__(self, tensor: None, owner: type) -> GradAttribute: ...
    @overload
    def __get__(self, tensor: Tensor, owner: type | None = None) -> Tensor | None: ...
    def __get__(
        self, tensor: Tensor | None, owner: type | None = None
    ) -> Tensor | GradAttribute | None:
        return self if tensor is None else tensor._grad

    def __set__(self, tensor: Tensor, grad: Tensor | None) -> None:
        # As PyTorch's "assigned grad has data of a different size": an optimizer would
        # otherwise broadcast a (1,)-shaped gradient over the whole parameter, silently.
        if grad is not None and not isinstance(grad, self.tensor_type):
            # As PyTorch: a raw array kept as `.grad` half works (a flat step fails on it).
            raise TypeError(
                f"Tensor.grad: a gradient is a Tensor or None, not {type(grad).__name__}; "
                "wrap it: t.grad = chainrule.tensor(array)"
            )
        if grad is not None and grad._data.shape != tensor._data.shape:
            raise ValueError(
                f"Tensor.grad: cannot assign a gradient of shape "
                f"{grad._data.shape} to a tensor of shape "
                f"{tensor._data.shape}; a gradient has its tensor's shape: reshape it "
                "(or assign None to clear it)"
            )
        # As PyTorch's "attempting to assign a gradient with dtype ...": an optimizer would
        # otherwise mix a float64 gradient into float32 state and updates without a word.
        if grad is not None and grad.dtype != tensor.dtype:
            raise TypeError(
                f"Tensor.grad: cannot assign a gradient of dtype {grad.dtype} to a tensor of "
                f"dtype {tensor.dtype}; a gradient has its tensor's dtype: convert it "
                f"(t.grad = grad.astype({tensor.dtype.name!r})) or assign None to clear it"
            )
        # As PyTorch's "... located on device ...": an update would mix two libraries' arrays.
        if (
            grad is not None
            and type(grad._data) is not type(tensor._data)
            and grad.device != tensor.device
        ):
            raise TypeError(
                f"Tensor.grad: cannot assign a gradient on {grad.device} to a tensor on "
                f"{tensor.device}; move it first: t.grad = grad.to(t.device)"
            )
        if STATE.tracer is not None:
            STATE.tracer.record_grad_assignment(tensor, grad)
        tensor._grad = grad

    def __delete__(self, tensor: Tensor) -> None:
        self.__set__(tensor, None)


class _State(threading.local):
    """Per thread, as torch's grad mode: a thread evaluating under no_grad must not stop
    another thread's training step from being recorded. `__init__` runs once in each thread
    that uses it and puts every mode in that thread's own dict, so that `STATE.__dict__` (one
    thread-local look-up, where each attribute read is another) holds them all: the record
    path reads its three modes there."""

    grad_enabled: bool
    anomaly: bool
    # The active tracer while `chainrule.compile` traces a step, else None.
    tracer: StepTracer | None

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.tracer = None


STATE = _State()


def is_grad_enabled() -> bool:
    """Whether ops on tensors that require grad are recorded for backward."""
    return STATE.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(STATE.grad_enabled)
        STATE.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self._previous.pop()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:  # type: ignore[override]
        """`func` run under this mode; for a generator function, each of its steps (the code
        between two yields) runs under it and the caller's code between them under the
        caller's mode, as torch's decorators do (a plain decorator would cover only the
        creation of the generator, none of its body)."""
        if inspect.isgeneratorfunction(func):
            return self._generator_steps_under_mode(func)
        return super().__call__(func)

    def _generator_steps_under_mode(self, func: Callable[..., Any]) -> Callable[..., Any]:
        enabled = self.enabled

        @functools.wraps(func)
        def steps(*args: Any, **kwargs: Any) -> Any:
            generator = func(*args, **kwargs)  # runs none of the body yet
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                try:
                    with _GradMode(enabled):
                        if thrown is None:
                            yielded = generator.send(sent)
                        else:
                            error, thrown = thrown, None
                            yielded = generator.throw(error)
                except StopIteration as stop:
                    return stop.value
                try:
                    sent = yield yielded
                except GeneratorExit:
                    with _GradMode(enabled):
                        generator.close()
                    raise
                except BaseException as error:  # thrown in by the caller: pass it on
                    thrown = error

        return steps


def no_grad() -> _GradMode:
    """Context manager and decorator: inside it no graph is recorded (as torch.no_grad)."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager and decorator: record ops even inside `no_grad`."""
    return _GradMode(True)


class AnomalyError(FloatingPointError):
    """A NaN or inf appeared in a forward value or a gradient under `detect_anomaly()`."""


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside it, the first op whose output or gradient holds NaN/inf raises AnomalyError
    naming the op and the line of user code that created it. Slower: use it to debug."""
    previous = STATE.anomaly
    STATE.anomaly = True
    try:
        yield
    finally:
        STATE.anomaly = previous


def user_frame() -> str:
    """'file:line: code' of the innermost caller outside chainrule (where the user built it)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown location>"
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    code = linecache.getline(filename, lineno).strip()
    return f"{filename}:{lineno}: {code}"


def record_effect(effect: Any) -> None:
    """While a step is being traced for `chainrule.compile`, remember that `effect()` (an
    optimizer's step or zero_grad) ran here, so every replay runs it at the same point. An
    effect called by one already recorded (the base step a subclass's override calls) is
    replayed with it, and not recorded again."""
    tracer = STATE.tracer
    if tracer is not None:
        frame = sys._getframe(1)
        if not tracer.in_effect(frame.f_back):
            tracer.record_effect(effect, frame)


def recorded_at_entry(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` (a subclass's override of an optimizer's or scheduler's `step` or
    `zero_grad`) recorded as an effect when it is entered, so that a replay repeats the whole
    override once: the base method it calls records nothing more, and what the override does
    before that call (`p.grad = p.grad * 0.5`) is not also traced as the step's own code,
    which a replay would repeat a second time."""

    @functools.wraps(method)
    def entered(self: Any, *args: Any, **kwargs: Any) -> Any:
        if STATE.tracer is not None:
            bound = getattr(self, method.__name__)
            record_effect(functools.partial(bound, *args, **kwargs) if args or kwargs else bound)
        return method(self, *args, **kwargs)

    return entered


def refuse_while_tracing(what: str, why: str, fix: str = "run this step eagerly") -> None:
    """Raise CompileError if a step is being traced: `what` cannot be replayed because `why`;
    `fix` says what to do instead."""
    if STATE.tracer is not None:
        raise CompileError(f"compile: {what} cannot be traced: {why}; {fix}")
