"""`Tensor`: an ndarray that remembers how it was computed, so `backward()` can apply the
chain rule through every op that produced it.

This module is the data model: storage, dtype and shape, the version counter shared with
views, requires_grad/grad/grad_fn, the backward entry and the core API (`Tensor.apply`,
`from_numpy`, `version`, `increment_version`). Operators and methods that record primitives
(see `chainrule.primitives`) live in `chainrule.ops`, which attaches them here, as it plugs
in NumPy's protocols (`np.exp(t)`, `np.sum(t, axis=0)`), so the same derivative rules run
on arrays and, for gradients of gradients, on Tensors.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from itertools import repeat
from typing import Any
from weakref import ref as _weakref

import numpy as np
import numpy.typing as npt

from chainrule import placement
from chainrule import primitives as P
from chainrule.dtypes import NUMPY_FLOATS, PROMOTIONS, UNSEEN, numpy_dtype
from chainrule.dtypes import check_dtype as _check_dtype
from chainrule.dtypes import check_exact_integers as _check_exact_integers
from chainrule.graph import READ, Node, backward_into_grads, check_forward, note_new_layout
from chainrule.modes import STATE, GradAttribute
from chainrule.numpy_protocol import NUMPY_PROTOCOL
from chainrule.tensor_methods import TensorMethods, change_requires_grad

ArrayLike = npt.ArrayLike


class VersionCounter:
    """A count of in-place changes, shared by a tensor and the views of its memory, with weak
    references to the views of that memory recorded on the graph (chainrule.ops.detaching)."""

    __slots__ = ("prune_at", "recorded_views", "value")

    def __init__(self) -> None:
        self.value = 0
        self.recorded_views: list[_weakref[Tensor]] = []
        self.prune_at = 16

    def prune(self) -> None:  # dead views go each time the list doubles: O(1) a view
        self.recorded_views = [ref for ref in self.recorded_views if ref() is not None]
        self.prune_at = 2 * len(self.recorded_views) + 16


# The counter of every tensor never changed in place and never viewed: one shared object
# instead of one allocation per op. It stays at 0: the first change gives a tensor its own.
_UNCHANGED = VersionCounter()


def _shared_counter(tensor: Tensor) -> VersionCounter:
    """`tensor`'s counter, made its own first if it still uses the shared unchanged one."""
    counter = tensor._counter
    if counter is _UNCHANGED:
        counter = tensor._counter = VersionCounter()
    return counter


class Tensor(TensorMethods):
    """An n-dimensional array with a gradient.

    `requires_grad=True` marks a leaf whose `.grad` backward fills; every op on such a tensor
    is recorded. A NumPy array of matching dtype is shared, not copied (as `torch.as_tensor`).
    """

    __slots__ = (
        "__weakref__",
        "_base",
        "_counter",
        "_data",
        "_grad",
        "_node",
        "_requires_grad",
        "name",
    )
    grad = GradAttribute()  # `.grad`; chainrule.compile records or refuses each assignment

    def __init__(
        self,
        data: Any,
        *,
        requires_grad: bool = False,
        dtype: npt.DTypeLike | None = None,
        name: str | None = None,
    ) -> None:
        self._data: np.ndarray = placement.tensor_array(_raw(data), dtype)
        self._node: Node | None = None
        self._counter = _UNCHANGED
        self._base: Tensor | None = None
        self._grad: Tensor | None = None
        self.name = name
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """A constant Tensor around an existing ndarray, without checks or copies."""
        tensor = cls.__new__(cls)
        tensor._data = array
        tensor._node = None
        tensor._counter = _UNCHANGED
        tensor._base = None
        tensor._grad = None
        tensor.name = None
        tensor._requires_grad = False
        return tensor

    @classmethod
    def from_numpy(cls, array: np.ndarray) -> Tensor:
        """A constant Tensor sharing `array`'s memory and dtype, as torch.from_numpy: nothing
        is copied or converted, so a change to either is seen by the other. Refuses a dtype
        chainrule does not hold (complex, float128, objects)."""
        if type(array) is not np.ndarray:
            raise TypeError(
                f"from_numpy: expected an np.ndarray, got {type(array).__name__}; "
                "use chainrule.tensor(...) to convert other data"
            )
        _check_dtype("from_numpy", array.dtype)
        return cls._wrap(array)

    @classmethod
    def apply(cls, primitive: type[P.Primitive], *inputs: Any, **params: Any) -> Tensor:
        """Run `primitive` on `inputs` (Tensors or arrays) and record it when needed."""
        if not all(map(isinstance, inputs, repeat(Tensor))):  # (checked in C)
            inputs = tuple(map(as_tensor, inputs))
        return cls._apply(primitive, inputs, params)

    @classmethod
    def _apply(
        cls, primitive: type[P.Primitive], inputs: tuple[Tensor, ...], params: dict[str, Any]
    ) -> Tensor:
        data = list(map(_DATA_OF, inputs))
        # NumPy arrays of one float dtype (the type first: another library's dtype may warn
        # when compared with NumPy's) have the PROMOTIONS entry None: their key is not built.
        dtype = data[0].dtype if type(data[0]) is np.ndarray else None
        one_float = dtype in NUMPY_FLOATS
        for array in data:  # inline, no generator: a frame costs most of what this saves
            one_float = one_float and type(array) is np.ndarray and array.dtype is dtype
        if not one_float:
            result_rule = primitive in P.FLOAT_RESULTS or P.INT64_RESULTS.get(primitive, False)
            key = (result_rule, *map(_TYPE_OF, inputs), *map(_DTYPE_OF, inputs))
            entry = PROMOTIONS.get(key, UNSEEN)
            if entry is not None:  # unseen, integers into a float op, or two array libraries
                inputs = placement.promote_inputs(primitive.name, key, entry, inputs)
                data = list(map(_DATA_OF, inputs))
        if type(data[0]) is not np.ndarray:  # CuPy, JAX, ...: computed there (placement)
            out, saved, params = placement.forward(primitive, data, params)
        else:
            try:
                out, saved = primitive.forward(*data, **params)
            except (TypeError, ValueError, RuntimeError):  # another library's input: say so
                placement.check_same_device(primitive.name, data)
                raise
            if type(out) is not np.ndarray:
                out = placement.result_array(primitive.name, out, data)
        result = cls._wrap(out)
        modes = STATE.__dict__  # this thread's modes, looked up once (see modes._State)
        if primitive.returns_view and type(out) is np.ndarray and np.may_share_memory(out, data[0]):
            # A view shares its base's version counter, so an in-place change through either
            # is seen by every op that saved the other (as in PyTorch).
            counter = result._counter = _shared_counter(inputs[0])
            base = inputs[0]._base
            result._base = inputs[0] if base is None else base
            if modes["grad_enabled"] and inputs[0].requires_grad:
                counter.recorded_views.append(_weakref(result))  # see ops.detaching
                if len(counter.recorded_views) >= counter.prune_at:
                    counter.prune()
        if modes["grad_enabled"]:
            # What a Node keeps of each input (its flag, node and version now), read slot by
            # slot for one to three inputs: reads the interpreter specializes, at a fifth of
            # the cost of the attrgetters that more inputs take.
            if len(inputs) > 3:
                needs, producers, versions = zip(*map(_SNAPSHOT_OF, inputs), strict=True)
            elif len(inputs) == 1:
                (a,) = inputs
                needs, producers, versions = (a._requires_grad,), (a._node,), (a._counter.value,)
            elif len(inputs) == 2:
                a, b = inputs
                needs = (a._requires_grad, b._requires_grad)
                producers, versions = (a._node, b._node), (a._counter.value, b._counter.value)
            else:
                a, b, c = inputs
                needs = (a._requires_grad, b._requires_grad, c._requires_grad)
                producers = (a._node, b._node, c._node)
                versions = (a._counter.value, b._counter.value, c._counter.value)
            if any(needs):
                result._requires_grad = True
                result._node = Node(primitive, inputs, saved, params, needs, producers, versions)
        if modes["anomaly"]:
            check_forward(primitive, result)
        if modes["tracer"] is not None:
            modes["tracer"].record_op(primitive, inputs, params, result)
        return result

    apply_tensors = _apply  # `apply` for a tuple of Tensors and a dict: no conversion

    # ----------------------------------------------------------------- attributes
    @property
    def data(self) -> np.ndarray:
        """The values, as an ndarray. Assigning replaces them (and is seen by backward)."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        """New values, in their own dtype and shape (as PyTorch): a float array or tensor
        keeps its dtype, Python floats take this tensor's float dtype, and integers or booleans
        take it only when every value is exact in it (else ValueError). A held `.grad` is
        converted to the new dtype; a new shape needs `.grad = None` first."""
        if STATE.tracer is not None:
            STATE.tracer.refuse_mutation(self, "data assignment")
        has_dtype = isinstance(value, (Tensor, np.ndarray, np.generic))
        raw = _raw(value)
        foreign = placement.is_foreign(raw)  # another library's array: kept, in its dtype
        array = placement.tensor_array(raw, None) if foreign else np.asarray(raw)
        kinds = "" if foreign else "biu" if has_dtype else "biuf"
        if kinds and self.dtype.kind == "f" and array.dtype.kind in kinds:
            converted = array.astype(self._data.dtype)
            if array.dtype.kind in "iu":
                _check_exact_integers(array, converted)
            array = converted
        _check_dtype("data", numpy_dtype(array.dtype))
        grad = self.grad
        if grad is not None and array.shape != self._data.shape:
            raise ValueError(
                f"data: .grad holds a gradient of shape {self.shape}, but the new values have "
                f"shape {array.shape}; set .grad = None (or call zero_grad()) first"
            )
        if array.shape != self._data.shape or numpy_dtype(array.dtype) != self.dtype:
            note_new_layout(self)  # a graph recorded before refuses its backward
        self._data = array
        if grad is not None and grad.dtype != self.dtype:
            self.grad = grad.astype(self.dtype)
        _shared_counter(self).value += 1

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (shared with its views)."""
        return self._counter.value

    @_version.setter
    def _version(self, value: int) -> None:
        _shared_counter(self).value = value

    @property
    def version(self) -> int:
        """How many in-place changes this tensor's memory has seen, counted with its views
        (torch's `t._version`); recorded ops compare it at backward to catch changes."""
        return self._counter.value

    def increment_version(self) -> None:
        """Count one in-place change made to `.data`'s memory directly (an optimizer's update,
        an accumulated `.grad`), as torch's increment_version: a graph saving it then refuses."""
        _shared_counter(self).value += 1

    @property
    def grad_fn(self) -> Node | None:
        """The recorded op that computed this tensor (`Node`: its primitive, parents, saved
        values), or None for a leaf or an unrecorded result; as torch's, it walks a graph."""
        return self._node

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype[Any]:
        """NumPy's dtype, whatever library holds the values (as torch.dtype on any device)."""
        dtype = self._data.dtype
        return dtype if isinstance(dtype, np.dtype) else numpy_dtype(dtype)

    device = property(placement.device_of_tensor, doc=placement.device_of_tensor.__doc__)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user, not by a recorded op."""
        return self._node is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        """The values as an ndarray: shared, not copied; copied from another library (GPU)."""
        if STATE.tracer is not None:  # compile notes what the step reads of them
            return STATE.tracer.numpy_of(self)
        return self._data if type(self._data) is np.ndarray else placement.numpy_copy(self._data)

    def item(self) -> float:
        """The single value of a one-element tensor, as a Python number."""
        if STATE.tracer is not None:
            STATE.tracer.refuse_conversion(self, "item()")
        if self._data.size != 1:
            raise ValueError(
                f"item: the tensor has shape {self.shape} ({self.size} values); item() needs "
                "exactly one value: reduce it first (e.g. .sum()) or index one entry"
            )
        value: float = placement.to_numpy(self._data).item()
        return value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this leaf as needing a gradient (in place) and return it."""
        change_requires_grad(self, requires_grad, "requires_grad_")
        return self

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> Any:
        """The values for NumPy (np.asarray(t)); refused when the tensor requires grad, as in
        PyTorch, since the plain array would silently drop the gradient."""
        if STATE.tracer is not None:
            STATE.tracer.refuse_conversion(self, "np.asarray()")
        if self.requires_grad:
            raise TypeError(
                f"a tensor that requires grad (shape {self.shape}) cannot become a NumPy "
                "array: its gradient would be silently lost. Keep tensors tensors (write "
                "chainrule.stack or chainrule.concatenate instead of np.array([...]), "
                "t.mean() instead of np.mean([...])), or take the values without gradient "
                "with t.detach() (np.asarray(t.detach()), t.detach().numpy())"
            )
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)
        if copy is None:
            return np.asarray(self._data, dtype=dtype)
        return np.array(self._data, dtype=dtype, copy=False)

    def __repr__(self) -> str:
        body = np.array2string(placement.to_numpy(self._data), separator=", ", prefix="tensor(")
        extras = [f"dtype={self.dtype}"] + (
            [] if type(self._data) is np.ndarray else [f"device='{self.device}'"]
        )
        if self._node is not None:
            extras.append(f"grad_fn={self._node.primitive.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"tensor({body}, {', '.join(extras)})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor: it holds a single value; use .item()")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if STATE.tracer is not None:
            STATE.tracer.refuse_conversion(self, "bool()")
        return bool(self._data)

    def __float__(self) -> float:
        if STATE.tracer is not None:
            STATE.tracer.refuse_conversion(self, "float()")
        return float(self.item())

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- backward
    def backward(
        self,
        grad: Tensor | ArrayLike | None = None,
        *,
        retain_graph: bool = False,
        create_graph: bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf), weighted by `grad`, into `.grad` of every leaf that
        requires it. `grad` defaults to 1 and is required when self is not a scalar."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph; create the "
                "inputs with requires_grad=True (and not inside no_grad())"
            )
        if grad is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward: the output has shape {self.shape}, not a scalar; pass "
                    "grad= (dL/d(output), the same shape) or reduce it first, e.g. .sum()"
                )
            grad_root: Any = placement.ones_like(self._data)
        else:
            if isinstance(grad, Tensor) and grad.dtype != self.dtype:
                grad = grad.astype(self.dtype)  # as torch: a leaf's .grad keeps its dtype
            grad_root = grad._data if isinstance(grad, Tensor) else placement.like(grad, self._data)
            if grad_root.shape != self.shape:
                raise ValueError(
                    f"backward: grad has shape {grad_root.shape} but the output has shape "
                    f"{self.shape}; they must match exactly"
                )
        if STATE.tracer is not None:
            STATE.tracer.record_backward(self, grad, create_graph)
        if create_graph:
            grad_root = grad if isinstance(grad, Tensor) else Tensor._wrap(grad_root)
        backward_into_grads(
            self, grad_root, retain_graph=retain_graph or create_graph, create_graph=create_graph
        )

    # ----------------------------------------------------------------- NumPy protocol
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs on tensors (np.exp(t)), served by chainrule.ops.dispatch."""
        return NUMPY_PROTOCOL.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(
        self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any
    ) -> Any:
        """NumPy functions on tensors (np.sum(t)), served by chainrule.ops.dispatch."""
        return NUMPY_PROTOCOL.array_function(func, args, kwargs)


# What the sweep (chainrule.graph, below) reads for every parent of every node, in C.
READ.version, READ.grad_fn, READ.data, _TYPE_OF, _DTYPE_OF = map(
    operator.attrgetter, ("_counter.value", "_node", "_data", "_data.__class__", "_data.dtype")
)
_DATA_OF, _SNAPSHOT_OF = READ.data, operator.attrgetter("_requires_grad", "_node", "_counter.value")
READ.tensor_type, READ.wrap = Tensor, Tensor._wrap  # a stored `.grad`, without from_numpy's checks


# --------------------------------------------------------------------- helpers
def as_tensor(value: Any) -> Tensor:
    """`value` if a Tensor, else a constant Tensor of it (float32 for Python data)."""
    return value if isinstance(value, Tensor) else Tensor(placement.refuse_stacking(value))


def _raw(value: Any) -> Any:
    return value._data if isinstance(value, Tensor) else value


def attach_methods(*methods: Callable[..., Any]) -> None:
    """Plug methods written in the ops layer into Tensor under their own names: a one-way
    plug, as NUMPY_PROTOCOL, so this module never imports the layer above it. Each is
    declared for type checkers in chainrule.tensor_methods."""
    for method in methods:
        method.__qualname__ = f"Tensor.{method.__name__}"
        setattr(Tensor, method.__name__, method)
