"""Flat parameter buffers: the values of many parameters as views into one contiguous array,
and their gradients as views into another, so that an optimizer step, zero_grad or an
allreduce is a few NumPy calls over the whole buffer instead of a few per parameter (as
PyTorch FSDP's FlatParameter and Megatron's contiguous gradient buffers)."""

from __future__ import annotations

import itertools
import operator
import weakref
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from chainrule.backends import namespace
from chainrule.graph import READ, bump_slot_holder, set_grad_slot
from chainrule.modes import no_grad
from chainrule.tensor import Tensor

_GRAD_OF = operator.attrgetter("_grad")  # `.grad` without its Python-level getter
_REQUIRES_GRAD_OF = operator.attrgetter("_requires_grad")
_DEREFERENCE = weakref.ref.__call__  # a weak reference's referent, called in C


class FlatBuffer:
    """`data` holds the values of `params` (one float dtype) back to back, `grad` their
    gradients: each parameter's `.data` is a view of its slice of `data`, and backward writes
    a fresh gradient into its slice of `grad` (`.grad` a view of it).

    A parameter stays a member while its `.data` is that view: `param.data = array`
    moves it out of the buffer (optimizers then update it on its own); `rebuild` takes it in
    again. A `.grad` kept across `zero_grad()` sees the next backward's values (copy it).
    """

    def __init__(self, params: Sequence[Tensor]) -> None:
        params = list(params)
        if not params:
            raise ValueError("FlatBuffer: no parameters given; pass a non-empty list")
        _check_one_dtype("FlatBuffer", params, "(flatten_parameters groups them by dtype)")
        # Held weakly: the members keep the buffer alive (through `buffer_of`), not the
        # other way round, so a dropped model frees it.
        self._members = [weakref.ref(param) for param in params]
        self.rebuild()

    @property
    def params(self) -> list[Tensor]:
        """The member parameters still alive, in order."""
        return [param for member in self._members if (param := member()) is not None]

    def rebuild(self) -> None:
        """Copy every parameter's current values and gradient into new flat arrays and make
        them views of their slices again (after `.data` was replaced, or to re-pack)."""
        params = self.params
        if not params:
            raise ValueError("FlatBuffer.rebuild: every member parameter has been freed")
        # A member whose .data took another dtype would be cast into the others' (or they
        # into its) without a word.
        _check_one_dtype(
            "FlatBuffer.rebuild",
            params,
            "(a .data replaced by another dtype); convert it back, or call "
            "flatten_parameters again, which makes one buffer per dtype",
        )
        _check_grads_fit(params)
        self._members = [weakref.ref(param) for param in params]
        dtype = params[0].dtype
        sizes = [param.data.size for param in params]
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self.data: np.ndarray = np.empty(bounds[-1], dtype=dtype)
        # Spare elements after the gradients (one per member, then one) let a reduction
        # carry numbers with them in the same call: chainrule.distributed sends which
        # members have a gradient and each rank's sample count there.
        self.grad_and_spare: np.ndarray = np.zeros(bounds[-1] + len(params) + 1, dtype=dtype)
        self.grad: np.ndarray = self.grad_and_spare[: bounds[-1]]
        self.bounds: list[tuple[int, int]] = list(itertools.pairwise(bounds))
        self.positions = {id(param): position for position, param in enumerate(params)}
        self.data_views: list[np.ndarray] = []
        self.grad_views: list[np.ndarray] = []
        with no_grad():
            for param, (start, stop) in zip(params, self.bounds, strict=True):
                view = self.data[start:stop].reshape(param.shape)
                view[...] = param.data
                param.data = view
                grad_view = self.grad[start:stop].reshape(param.shape)
                grad = param.grad
                if grad is not None and not grad.requires_grad:
                    grad_view[...] = grad.data
                    param.grad = Tensor.from_numpy(grad_view)
                set_grad_slot(param, grad_view)
                self.data_views.append(view)
                self.grad_views.append(grad_view)
                _MEMBERSHIP[id(param)] = (weakref.ref(param, _forget(id(param))), self)

    def holds_all_grads(self, params: Sequence[Tensor]) -> bool:
        """Whether `params` are exactly the members, in order, with every gradient in `grad`
        (so that `grad` can be reduced as it is)."""
        return (
            len(params) == len(self._members)
            and all(member() is param for member, param in zip(self._members, params, strict=True))
            and self.span(params) is not None
        )

    def span(self, params: Sequence[Tensor]) -> tuple[int, int] | None:
        """(start, stop) of `params` in the flat arrays when they are consecutive members in
        order, each with its values and its gradient in its slices; None otherwise (then an
        optimizer updates them one by one)."""
        index = self.positions.get(id(params[0]))
        if index is None:
            return None
        stop = index + len(params)
        if stop > len(self._members):
            return None
        # An optimizer calls this at every step: each check maps over all the parameters in
        # C (no Python bytecode per parameter). `.grad` and `.data` are read from their slots
        # (what the Python-level getters return; only the tracer watches `.grad`, and only
        # assignments); identity is compared with `is`, never `==` (element-wise on Tensors).
        data_of = READ.data
        grads = list(map(_GRAD_OF, params))
        if not (
            all(map(operator.is_not, grads, itertools.repeat(None)))
            and all(map(operator.is_, map(data_of, grads), self.grad_views[index:stop]))
            and all(map(operator.is_, map(data_of, params), self.data_views[index:stop]))
            and not any(map(_REQUIRES_GRAD_OF, grads))
            and all(map(operator.is_, map(_DEREFERENCE, self._members[index:stop]), params))
        ):
            return None
        return self.bounds[index][0], self.bounds[stop - 1][1]

    def zero_grad(self) -> None:
        """Zero the gradients with one fill of `grad`, detaching each `.grad` from any graph;
        a `.grad` held outside the buffer is zeroed on its own and a None one stays None. The
        `.grad` a backward last handed out over a slot, held elsewhere since (set_to_none),
        changes version too: its values were zeroed under it."""
        self.grad.fill(0)
        for member, grad_view in zip(self._members, self.grad_views, strict=True):
            param = member()
            if param is None:
                continue
            grad = param.grad
            if grad is None or grad.data is not grad_view:
                bump_slot_holder(param)
            if grad is None:
                continue
            # Cut from any graph as torch's zero_grad: in place where an op computed it (a
            # create_graph gradient), else by its flag (a `.grad` set by hand may be a view,
            # which detach_ refuses).
            if READ.grad_fn(grad) is not None:
                grad.detach_()
            grad._requires_grad = False
            if grad.data is grad_view:
                grad.increment_version()
            else:
                _zero_detached(grad)


def _check_one_dtype(op: str, params: Sequence[Tensor], advice: str) -> None:
    """Refuse `params` unless they are NumPy arrays of one dtype, as a flat buffer holds."""
    for param in params:
        if type(param.data) is not np.ndarray:
            raise TypeError(
                f"{op}: flat buffers hold NumPy parameters, one is on {param.device}; move "
                "the model to the cpu first (model.to('cpu'))"
            )
    dtypes = {param.dtype for param in params}
    if len(dtypes) != 1:
        raise ValueError(
            f"{op}: the parameters have dtypes {sorted(map(str, dtypes))}; a flat buffer "
            f"holds one dtype {advice}"
        )


def _check_grads_fit(params: Sequence[Tensor]) -> None:
    """Refuse a `.grad` (copied into its slot) whose `.data` took another shape or dtype:
    the copy would broadcast or cast it into the slot without a word."""
    for position, param in enumerate(params):
        grad = param.grad
        if grad is None or grad.requires_grad:
            continue
        values = grad.data
        if values.shape != param.shape or values.dtype != param.dtype:
            raise ValueError(
                f"FlatBuffer: parameter {position} (shape {param.shape}, dtype {param.dtype}) "
                f"has a .grad of shape {values.shape} and dtype {values.dtype} (its .data was "
                "replaced); give it a gradient like the parameter, or set .grad = None"
            )


_MEMBERSHIP: dict[int, tuple[weakref.ref[Tensor], FlatBuffer]] = {}


def _forget(key: int) -> Callable[[weakref.ref[Tensor]], None]:
    """The callback that drops a dead parameter's membership, freeing its buffer."""

    def drop(_: weakref.ref[Tensor]) -> None:
        _MEMBERSHIP.pop(key, None)

    return drop


def buffer_of(param: Tensor) -> FlatBuffer | None:
    """The flat buffer `param` was placed in, or None."""
    entry = _MEMBERSHIP.get(id(param))
    if entry is None or entry[0]() is not param:
        return None
    return entry[1]


def flatten_parameters(params: Iterable[Tensor]) -> list[FlatBuffer]:
    """Place `params` in flat buffers, one per dtype, in the order given (each parameter
    once); returns the buffers. Values and gradients are kept; `.data` becomes a view."""
    by_dtype: dict[np.dtype, list[Tensor]] = {}
    seen: set[int] = set()
    for param in params:
        if not isinstance(param, Tensor):
            raise TypeError(f"flatten_parameters: expected Tensors, got {type(param).__name__}")
        if type(param.data) is not np.ndarray:  # devices (issue 16)
            raise TypeError(
                f"flatten_parameters: flat buffers hold NumPy parameters, this one is on "
                f"{param.device}; move the model to the cpu first (model.to('cpu'))"
            )
        if id(param) not in seen:
            seen.add(id(param))
            by_dtype.setdefault(param.dtype, []).append(param)
    return [FlatBuffer(group) for group in by_dtype.values()]


def _zero_detached(grad: Tensor) -> None:
    values = grad.data
    if getattr(values, "flags", None) is None:
        # A JAX (or array_api_strict) gradient cannot be written into, so zero_() refuses
        # it; the tensor gets zeros of its own library instead, as new values for `.grad`.
        grad.data = namespace(values).zeros_like(values)
        return
    # Outside grad mode, as the `.grad` is now off every graph: a view of it that a gradient
    # penalty recorded would otherwise have zero_() refused (chainrule.ops.inplace), where
    # torch's zero_grad zeroes it; the penalty's graph, recorded before, is unchanged.
    with no_grad():
        grad.zero_()


def zero_grads(params: Iterable[Tensor]) -> None:
    """Zero the `.grad` of each of `params` in place (None stays None), detaching it from any
    graph: with one fill per flat buffer all of whose members are among `params`, one by
    one for the rest."""
    params = list(params)
    ids = {id(param) for param in params}
    buffers = {id(buffer): buffer for param in params if (buffer := buffer_of(param)) is not None}
    done: set[int] = set()
    for buffer in buffers.values():
        if all(id(member) in ids for member in buffer.params):
            buffer.zero_grad()
            done.update(id(member) for member in buffer.params)
    for param in params:
        grad = param.grad
        if id(param) in done or grad is None:
            continue
        if READ.grad_fn(grad) is not None:  # as in FlatBuffer.zero_grad
            grad.detach_()
        grad._requires_grad = False
        _zero_detached(grad)
