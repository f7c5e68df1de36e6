"""`Tensor`: an ndarray that remembers how it was computed, so `backward()` can apply the
chain rule through every op that produced it.

Operators and methods record primitives (see `chainrule.primitives`); NumPy functions applied
to a Tensor (`np.exp(t)`, `np.sum(t, axis=0)`) dispatch here too, so the same derivative
rules run on arrays and, for gradients of gradients, on Tensors.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import primitives as P
from chainrule.graph import Node, backward_into_grads
from chainrule.modes import STATE, AnomalyError, CompileError, user_frame
from chainrule.primitives.reduction import Axis

ArrayLike = npt.ArrayLike


def _check_dtype(op: str, dtype: np.dtype[Any]) -> None:
    """Refuse a dtype chainrule does not hold: floats up to float64 (which can require grad),
    and integers and booleans (constants)."""
    if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return
    raise TypeError(
        f"{op}: cannot make a tensor from data of dtype {dtype}; chainrule tensors hold "
        "float16, float32 or float64 (the dtypes that can require grad), or integers and "
        "booleans as constants: convert the data first, e.g. values.astype(np.float32)"
    )


def _as_array(data: Any, dtype: npt.DTypeLike | None) -> np.ndarray:
    """The ndarray a new Tensor holds: float arrays keep their dtype, Python numbers and
    integer data become float32 unless `dtype` says otherwise."""
    if isinstance(data, Tensor):
        data = data._data
    if dtype is not None:
        target = np.dtype(dtype)
        _check_dtype("tensor", target)
        return np.asarray(data, dtype=target)
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    array = np.asarray(data)
    kind = array.dtype.kind
    if kind in "biu":
        return array.astype(np.float32)
    _check_dtype("tensor", array.dtype)
    return array if from_numpy else array.astype(np.float32)


def unary_method(primitive: type[P.Primitive]) -> Callable[[Tensor], Tensor]:
    """The Tensor method `x.<method>()` of a one-input primitive, documented by its formula."""

    def method(self: Tensor) -> Tensor:
        return Tensor._apply(primitive, (self,), {})

    method.__name__ = method.__qualname__ = str(primitive.method)
    method.__doc__ = primitive.__doc__
    return method


class NumpyProtocol:
    """Where Tensor's `__array_ufunc__` and `__array_function__` send NumPy's calls. The
    tables live above the data model (chainrule.ops.dispatch builds them from the ops), which
    plugs its functions in here when chainrule is imported: a one-way plug, so this module
    never imports the layer above it."""

    def __init__(self) -> None:
        self.array_ufunc: Callable[..., Any] = self._unplugged
        self.array_function: Callable[..., Any] = self._unplugged

    @staticmethod
    def _unplugged(*args: Any) -> Any:
        raise TypeError("NumPy functions on chainrule tensors need `import chainrule` first")


NUMPY_PROTOCOL = NumpyProtocol()


class VersionCounter:
    """A count of in-place changes, shared by a tensor and the views of its memory."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


# The counter of every tensor never changed in place and never viewed: one shared object
# instead of one allocation per op. It stays at 0: the first change gives a tensor its own.
_UNCHANGED = VersionCounter()


def _shared_counter(tensor: Tensor) -> VersionCounter:
    """`tensor`'s counter, made its own first if it still uses the shared unchanged one."""
    counter = tensor._counter
    if counter is _UNCHANGED:
        counter = tensor._counter = VersionCounter()
    return counter


class Tensor:
    """An n-dimensional array with a gradient.

    `requires_grad=True` marks a leaf whose `.grad` backward fills; every op on such a tensor
    is recorded. A NumPy array of matching dtype is shared, not copied (as `torch.as_tensor`).
    """

    __slots__ = (
        "__weakref__", "_base", "_counter", "_data", "_node", "grad", "name", "requires_grad"
    )

    def __init__(
        self,
        data: Any,
        *,
        requires_grad: bool = False,
        dtype: npt.DTypeLike | None = None,
        name: str | None = None,
    ) -> None:
        self._data = _as_array(data, dtype)
        self._node: Node | None = None
        self._counter = _UNCHANGED
        self._base: Tensor | None = None
        self.grad: Tensor | None = None
        self.name = name
        self.requires_grad = False
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
        tensor.grad = None
        tensor.name = None
        tensor.requires_grad = False
        return tensor

    @classmethod
    def from_numpy(cls, array: np.ndarray) -> Tensor:
        """A constant Tensor sharing `array`'s memory and dtype, as torch.from_numpy: nothing
        is copied or converted, so a change to either is seen by the other. Refuses a dtype
        chainrule does not hold (complex, float128, objects)."""
        if type(array) is not np.ndarray:
            raise TypeError(f"from_numpy: expected an np.ndarray, got {type(array).__name__}; "
                            "use chainrule.tensor(...) to convert other data")
        _check_dtype("from_numpy", array.dtype)
        return cls._wrap(array)

    @classmethod
    def apply(cls, primitive: type[P.Primitive], *inputs: Any, **params: Any) -> Tensor:
        """Run `primitive` on `inputs` (Tensors or arrays) and record it when needed."""
        return cls._apply(primitive, tuple(as_tensor(x) for x in inputs), params)

    @classmethod
    def _apply(
        cls, primitive: type[P.Primitive], inputs: tuple[Tensor, ...], params: dict[str, Any]
    ) -> Tensor:
        out, saved = primitive.forward(*[x._data for x in inputs], **params)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        result = cls._wrap(out)
        if primitive.returns_view and np.may_share_memory(out, inputs[0]._data):
            # A view shares its base's version counter, so an in-place change through either
            # is seen by every op that saved the other (as in PyTorch).
            result._counter = _shared_counter(inputs[0])
            base = inputs[0]._base
            result._base = inputs[0] if base is None else base
        if STATE.grad_enabled:
            for x in inputs:
                if x.requires_grad:
                    result.requires_grad = True
                    result._node = Node(primitive, inputs, saved, params)
                    break
        if STATE.anomaly:
            _check_forward(primitive, result)
        if STATE.tracer is not None:
            STATE.tracer.record_op(primitive, inputs, params, result)
        return result

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
        array = np.asarray(value._data if isinstance(value, Tensor) else value)
        if self._data.dtype.kind == "f" and array.dtype.kind in ("biu" if has_dtype else "biuf"):
            converted = array.astype(self._data.dtype)
            if array.dtype.kind in "iu":
                _check_exact_integers(array, converted)
            array = converted
        _check_dtype("data", array.dtype)
        grad = self.grad
        if grad is not None and array.shape != self._data.shape:
            raise ValueError(
                f"data: .grad holds a gradient of shape {self.shape}, but the new values have "
                f"shape {array.shape}; set .grad = None (or call zero_grad()) first"
            )
        self._data = array
        if grad is not None and grad.dtype != array.dtype:
            self.grad = grad.astype(array.dtype)
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
        an accumulated `.grad`), as torch.autograd.graph.increment_version does, so that a
        graph that saved this tensor refuses a backward through the stale value."""
        _shared_counter(self).value += 1

    @property
    def grad_fn(self) -> Node | None:
        """The recorded op that computed this tensor (`Node`: its primitive, parents and
        saved values), or None for a leaf or a tensor computed without recording; as
        torch's grad_fn, it is how a graph is walked."""
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
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user, not by a recorded op."""
        return self._node is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (shared, not copied)."""
        return self._data

    def item(self) -> float:
        """The single value of a one-element tensor, as a Python number."""
        if STATE.tracer is not None:
            STATE.tracer.refuse_conversion(self, "item()")
        if self._data.size != 1:
            raise ValueError(
                f"item: the tensor has shape {self.shape} ({self.size} values); item() needs "
                "exactly one value: reduce it first (e.g. .sum()) or index one entry"
            )
        value: float = self._data.item()
        return value

    def detach(self) -> Tensor:
        """The same values, cut from the graph: nothing flows back through the result. It
        shares memory, and so the version counter, with this tensor."""
        detached = Tensor._wrap(self._data)
        detached._counter = _shared_counter(self)
        return detached

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place and return it: it becomes a leaf that does
        not require grad. Graphs that used it still hold it, so a later in-place change is
        caught by their backward."""
        self._node = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this leaf as needing a gradient (in place) and return it."""
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad_: only floating-point tensors can require gradients, this one "
                f"has dtype {self.dtype}; create it with dtype=np.float32 or np.float64"
            )
        if not requires_grad and self._node is not None:
            raise RuntimeError(
                "requires_grad_(False): this tensor was computed by a recorded op; "
                "use .detach() to get a copy cut from the graph"
            )
        self.requires_grad = requires_grad
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
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extras = [f"dtype={self.dtype}"]
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
            if self.size != 1:
                raise RuntimeError(
                    f"backward: the output has shape {self.shape}, not a scalar; pass "
                    "grad= (dL/d(output), the same shape) or reduce it first, e.g. .sum()"
                )
            grad_root: Any = np.ones(self.shape, dtype=self.dtype)
        else:
            grad_root = grad._data if isinstance(grad, Tensor) else np.asarray(grad, self.dtype)
            if grad_root.shape != self.shape:
                raise ValueError(
                    f"backward: grad has shape {grad_root.shape} but the output has shape "
                    f"{self.shape}; they must match exactly"
                )
        if STATE.tracer is not None:
            STATE.tracer.record_backward(self, grad, create_graph)
        if create_graph:
            grad_root = grad if isinstance(grad, Tensor) else Tensor._wrap(grad_root)
        backward_into_grads(self, grad_root, retain_graph=retain_graph or create_graph,
                            create_graph=create_graph)

    # ----------------------------------------------------------------- arithmetic
    def _binary(self, primitive: type[P.Primitive], other: Any, reflected: bool) -> Tensor:
        other_tensor = _operand(other, self)
        inputs = (other_tensor, self) if reflected else (self, other_tensor)
        try:
            return Tensor._apply(primitive, inputs, {})
        except CompileError:
            raise
        except ValueError:
            P.broadcast_shapes(primitive.name, inputs[0].shape, inputs[1].shape)
            raise

    def __add__(self, other: Any) -> Tensor:
        return self._binary(P.Add, other, False)

    def __radd__(self, other: Any) -> Tensor:
        return self._binary(P.Add, other, True)

    def __sub__(self, other: Any) -> Tensor:
        return self._binary(P.Sub, other, False)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(P.Sub, other, True)

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(P.Mul, other, False)

    def __rmul__(self, other: Any) -> Tensor:
        return self._binary(P.Mul, other, True)

    def __truediv__(self, other: Any) -> Tensor:
        return self._binary(P.Div, other, False)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._binary(P.Div, other, True)

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, (np.integer, np.floating)):
            exponent = exponent.item()  # a NumPy scalar is a constant, as a Python number
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            return Tensor._apply(P.PowScalar, (self,), {"exponent": exponent})
        return self._binary(P.Pow, exponent, False)

    def __rpow__(self, base: Any) -> Tensor:
        return self._binary(P.Pow, base, True)

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    def __neg__(self) -> Tensor:
        return Tensor._apply(P.Neg, (self,), {})

    def __pos__(self) -> Tensor:
        return self

    # Comparisons give plain boolean arrays: they have no gradient.
    def __lt__(self, other: Any) -> np.ndarray:
        _refuse_comparison_while_tracing("<", self, other)
        result: np.ndarray = self._data < _raw(other)
        return result

    def __le__(self, other: Any) -> np.ndarray:
        _refuse_comparison_while_tracing("<=", self, other)
        result: np.ndarray = self._data <= _raw(other)
        return result

    def __gt__(self, other: Any) -> np.ndarray:
        _refuse_comparison_while_tracing(">", self, other)
        result: np.ndarray = self._data > _raw(other)
        return result

    def __ge__(self, other: Any) -> np.ndarray:
        _refuse_comparison_while_tracing(">=", self, other)
        result: np.ndarray = self._data >= _raw(other)
        return result

    def __eq__(self, other: object) -> Any:
        _refuse_comparison_while_tracing("==", self, other)
        return self._data == _raw(other)

    def __ne__(self, other: object) -> Any:
        _refuse_comparison_while_tracing("!=", self, other)
        return self._data != _raw(other)

    # ----------------------------------------------------------------- element-wise
    # One-line methods made from the primitives' declarations; written out only so that
    # type checkers see them (the loop at the end of this module makes any other).
    exp = unary_method(P.Exp)
    log = unary_method(P.Log)
    sqrt = unary_method(P.Sqrt)
    abs = unary_method(P.Abs)
    tanh = unary_method(P.Tanh)
    sigmoid = unary_method(P.Sigmoid)
    relu = unary_method(P.ReLU)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Values limited to [min, max];  derivative [min <= x <= max]."""
        if min is None and max is None:
            raise ValueError("clip: give at least one of min and max")
        return Tensor._apply(P.Clip, (self,), {"low": min, "high": max})

    def astype(self, dtype: npt.DTypeLike) -> Tensor:
        """The values converted to another float dtype; the gradient converts back."""
        target = np.dtype(dtype)
        if target == self.dtype:
            return self
        if target.kind != "f":
            raise TypeError(f"astype: chainrule tensors are floating point, not {target}")
        return Tensor._apply(P.Cast, (self,), {"dtype": target})

    # ----------------------------------------------------------------- reductions
    def _reduce(self, primitive: type[P.Primitive], axis: Axis, keepdims: bool) -> Tensor:
        axis = _check_axes(primitive.name, axis, self.ndim)
        return Tensor._apply(primitive, (self,), {"axis": axis, "keepdims": keepdims})

    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Sum over `axis` (all by default)."""
        return self._reduce(P.Sum, axis, keepdims)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Mean over `axis` (all by default)."""
        return self._reduce(P.Mean, axis, keepdims)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Largest value over `axis`; ties share the gradient equally."""
        self._check_not_empty("max")
        return self._reduce(P.Max, axis, keepdims)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Smallest value over `axis`; ties share the gradient equally."""
        self._check_not_empty("min")
        return self._reduce(P.Min, axis, keepdims)

    def var(self, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """mean((x - mean(x))**2) over `axis`, divided by n - ddof (NumPy's default ddof=0)."""
        axis = _check_axes("var", axis, self.ndim)
        count = 1
        for a in P.normalize_axes(axis, self.ndim):
            count *= self.shape[a]
        if count - ddof <= 0:
            raise ValueError(f"var: {count} values with ddof={ddof} leave no degrees of freedom")
        centered = self - self.mean(axis=axis, keepdims=True)
        return (centered * centered).sum(axis=axis, keepdims=keepdims) / (count - ddof)

    def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """log(sum(exp(x))) over `axis`, computed as m + log(sum(exp(x - m))) with m the max,
        so large inputs do not overflow; its gradient is softmax(x)."""
        axis = _check_axes("logsumexp", axis, self.ndim)
        shift = _finite_max(self._data, axis)
        total = (self - shift).exp().sum(axis=axis, keepdims=True)
        out = total.log() + shift
        if keepdims:
            return out
        return out.reshape(np.sum(self._data, axis=axis).shape)

    def softmax(self, axis: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along `axis`, with the max subtracted first for stability."""
        along = _check_axes("softmax", axis, self.ndim)
        exps = (self - _finite_max(self._data, along)).exp()
        return exps / exps.sum(axis=along, keepdims=True)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x - logsumexp(x) along `axis`, computed as (x - m) - log(sum(exp(x - m))) with m
        the max: x - logsumexp(x) would subtract two numbers as large as x, and lose the
        answer's digits to their rounding (a float32 of 1e4 is rounded to 1e-3)."""
        along = _check_axes("log_softmax", axis, self.ndim)
        shifted = self - _finite_max(self._data, along)
        return shifted - shifted.exp().sum(axis=along, keepdims=True).log()

    def _check_not_empty(self, op: str) -> None:
        if self.size == 0:
            raise ValueError(f"{op}: the tensor is empty (shape {self.shape}); it has no {op}")

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape: Any) -> Tensor:
        """The same values in a new shape (one entry may be -1)."""
        new_shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        try:
            return Tensor._apply(P.Reshape, (self,), {"shape": new_shape})
        except CompileError:
            raise
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape {self.shape} ({self.size} values) into {new_shape}; "
                "the number of values must stay the same"
            ) from None

    def transpose(self, *axes: Any) -> Tensor:
        """Axes permuted (reversed by default), as NumPy's transpose."""
        order = tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], int) else axes
        if not order:
            order = tuple(reversed(range(self.ndim)))
        if len(order) == self.ndim:
            _check_axes("transpose", order, self.ndim)
        if len(order) != self.ndim or sorted(a % self.ndim for a in order) != list(
                range(self.ndim)):
            raise ValueError(
                f"transpose: axes {order} are not a permutation of the {self.ndim} axes of a "
                f"tensor of shape {self.shape}"
            )
        order = tuple(a % self.ndim for a in order)
        if order == tuple(range(self.ndim)):
            return self
        return Tensor._apply(P.Transpose, (self,), {"axes": order})

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Two axes exchanged (a 0-d tensor takes axis 0 and -1, as PyTorch's does)."""
        _check_axes("swapaxes", (axis1, axis2), self.ndim)
        if self.ndim == 0:
            return self
        order = list(range(self.ndim))
        order[axis1], order[axis2] = order[axis2], order[axis1]
        return self.transpose(order)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        """The values repeated along new or size-1 axes to `shape`."""
        target = tuple(shape)
        try:
            np.broadcast_shapes(self.shape, target)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast {self.shape} to {target}") from None
        if target == self.shape:
            return self
        return Tensor._apply(P.BroadcastTo, (self,), {"shape": target})

    def __getitem__(self, index: Any) -> Tensor:
        index = _raw_index(index)
        try:
            return Tensor._apply(P.GetItem, (self,), {"index": index})
        except IndexError as error:
            raise IndexError(f"getitem: {error} (tensor shape {self.shape})") from None

    # ----------------------------------------------------------------- in place
    def _check_in_place(self, op: str) -> None:
        if STATE.tracer is not None:
            STATE.tracer.refuse_mutation(self, op)
        if not STATE.grad_enabled:
            return
        if self.requires_grad:
            raise RuntimeError(
                f"{op}: in-place change of a tensor that requires grad would corrupt its "
                "gradient; write the out-of-place form (x = x + y) or wrap the update in "
                "chainrule.no_grad()"
            )
        base = self._base
        if base is not None and base.requires_grad and base._node is None:
            raise RuntimeError(
                f"{op}: this tensor is a view of a leaf that requires grad (shape "
                f"{base.shape}), so the in-place change would silently change that leaf; "
                "change a copy (view * 1), or change the leaf inside chainrule.no_grad()"
            )

    def _in_place_value(self, op: str, other: Any) -> Any:
        """The plain values of `other` for an in-place change; refused when `other` requires
        grad, since writing it into this array would silently drop its gradient."""
        if isinstance(other, Tensor) and other.requires_grad and STATE.grad_enabled:
            raise RuntimeError(
                f"{op}: the value combined in place with this tensor requires grad, and an "
                "in-place change of a plain array would silently drop its gradient; write "
                "the out-of-place form (x = x + y), or detach the value"
            )
        return _raw(other)

    def _mutated(self) -> Tensor:
        _shared_counter(self).value += 1
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_in_place("setitem")
        if isinstance(value, Tensor) and value.requires_grad and STATE.grad_enabled:
            raise RuntimeError(
                "setitem: the value written into the tensor requires grad, and writing it "
                "into an array would silently drop its gradient; build the result with "
                "chainrule.stack, concatenate or where instead"
            )
        self._data[_raw_index(index)] = _raw(value)
        _shared_counter(self).value += 1

    def zero_(self) -> Tensor:
        """Set every value to 0, in place."""
        self._check_in_place("zero_")
        self._data[...] = 0
        return self._mutated()

    def fill_(self, value: float) -> Tensor:
        """Set every value to `value`, in place."""
        self._check_in_place("fill_")
        self._data[...] = value
        return self._mutated()

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self += alpha * other, in place."""
        self._check_in_place("add_")
        addend = self._in_place_value("add_", other)
        self._data += addend if alpha == 1.0 else alpha * addend
        return self._mutated()

    def sub_(self, other: Any) -> Tensor:
        """self -= other, in place."""
        self._check_in_place("sub_")
        self._data -= self._in_place_value("sub_", other)
        return self._mutated()

    def mul_(self, other: Any) -> Tensor:
        """``self *= other``, in place."""
        self._check_in_place("mul_")
        self._data *= self._in_place_value("mul_", other)
        return self._mutated()

    def _augmented(self, op: str, ufunc: np.ufunc, other: Any) -> Tensor:
        """`self op other` in place (Python's +=, -=, *=, /=), as PyTorch: the same tensor,
        its memory (and so its views) changed, its version moved on."""
        self._check_in_place(op)
        value = self._in_place_value(op, other)
        shape = P.broadcast_shapes(op, self.shape, np.shape(value))
        if shape != self.shape:
            raise ValueError(
                f"{op}: the result would have shape {shape}, but this tensor has shape "
                f"{self.shape} and an in-place change keeps it; write the out-of-place form "
                "(x = x + y) for a new shape"
            )
        try:
            ufunc(self._data, value, out=self._data)
        except TypeError:
            raise TypeError(
                f"{op}: the result of a tensor of dtype {self.dtype} {op[0]} a value of dtype "
                f"{np.result_type(value)} cannot be stored back in {self.dtype}; convert "
                "first (x = x.astype(np.float32)) or write the out-of-place form"
            ) from None
        return self._mutated()

    def __iadd__(self, other: Any) -> Tensor:
        return self._augmented("+=", np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._augmented("-=", np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._augmented("*=", np.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._augmented("/=", np.true_divide, other)

    def copy_(self, source: Any) -> Tensor:
        """Overwrite the values with `source`'s (same shape), in place."""
        self._check_in_place("copy_")
        values = self._in_place_value("copy_", source)
        if np.shape(values) != self.shape:
            raise ValueError(f"copy_: source shape {np.shape(values)} differs from {self.shape}")
        self._data[...] = values
        return self._mutated()

    # ----------------------------------------------------------------- NumPy protocol
    def __array_ufunc__(
        self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any
    ) -> Any:
        """NumPy ufuncs on tensors (np.exp(t)), served by chainrule.ops.dispatch."""
        return NUMPY_PROTOCOL.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(
        self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any
    ) -> Any:
        """NumPy functions on tensors (np.sum(t)), served by chainrule.ops.dispatch."""
        return NUMPY_PROTOCOL.array_function(func, args, kwargs)

# --------------------------------------------------------------------- helpers
def as_tensor(value: Any) -> Tensor:
    """`value` if it is a Tensor, else a constant Tensor holding it (float32 for Python data)."""
    return value if isinstance(value, Tensor) else Tensor(value)


def _operand(value: Any, like: Tensor) -> Tensor:
    """The other operand of a binary op: a number (Python's or a NumPy scalar such as the
    np.float64 that np.mean returns) or an integer array takes the tensor's dtype, so float32
    stays float32, as in PyTorch; a float array keeps its own (NumPy's promotion applies)."""
    if isinstance(value, Tensor):
        return value
    if type(value) is float or type(value) is int or (
        isinstance(value, np.generic) and value.dtype.kind in "biuf"
        and like._data.dtype.kind == "f"
    ):
        return Tensor._wrap(np.asarray(value, dtype=like._data.dtype))
    array = np.asarray(value)
    if array.dtype.kind != "f" or not isinstance(value, np.ndarray):
        if array.dtype.kind not in "biuf":
            raise TypeError(f"cannot combine a tensor with a value of dtype {array.dtype}")
        array = array.astype(like.dtype)
    return Tensor._wrap(array)


def _refuse_comparison_while_tracing(comparison: str, *operands: Any) -> None:
    """Under chainrule.compile's tracing, refuse a comparison of a traced tensor: its result,
    a plain boolean array, would be frozen at the first call (in an `if` or a mask)."""
    if STATE.tracer is None:
        return
    for operand in operands:
        if isinstance(operand, Tensor):
            STATE.tracer.refuse_conversion(
                operand, f"comparison {comparison}" if comparison[0] in "<>=!" else comparison,
                "; for a mask, use chainrule ops (relu, maximum, minimum, clip) instead",
            )


def _raw(value: Any) -> Any:
    return value._data if isinstance(value, Tensor) else value


def _check_exact_integers(array: np.ndarray, converted: np.ndarray) -> None:
    """Refuse integer values that `converted` (their float form) does not hold exactly."""
    with np.errstate(invalid="ignore", over="ignore"):
        back = converted.astype(array.dtype)
    inexact = np.flatnonzero(back != array)
    if inexact.size:
        first = inexact[0]
        raise ValueError(
            f"data: the {array.dtype} values are not exact in {converted.dtype} "
            f"({array.flat[first]} would become {converted.flat[first]:.17g}); convert them "
            f"explicitly: .astype(np.float64) to adopt float64, or .astype(np.{converted.dtype}) "
            "to accept the rounding"
        )


def _raw_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_raw(part) for part in index)
    if isinstance(index, list):
        return np.asarray(index)
    return _raw(index)


def _check_axes(op: str, axis: Axis, ndim: int) -> Axis:
    """`axis` after checking it is in range; None (all) for a 0-d tensor, which takes axis 0
    and -1 for its one value, as NumPy does (and (0,) or (-1,), as PyTorch does)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    bound = builtins.max(ndim, 1)
    for a in axes:
        if not -bound <= a < bound:
            raise ValueError(
                f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions "
                f"(valid: {-bound} to {bound - 1})"
            )
    return None if ndim == 0 else axis


def _finite_max(values: np.ndarray, axis: Axis) -> np.ndarray:
    """The max along axis (kept), with infinities replaced by 0 so subtracting it is safe."""
    shift = np.max(values, axis=axis, keepdims=True)
    return np.where(np.isfinite(shift), shift, 0).astype(values.dtype, copy=False)


def _check_forward(primitive: type[P.Primitive], result: Tensor) -> None:
    if result.dtype.kind == "f" and not np.all(np.isfinite(result._data)):
        location = user_frame()
        if result._node is not None:
            result._node.trace = location
        raise AnomalyError(
            f"{primitive.name} produced NaN or inf in its output (shape {result.shape}) at "
            f"{location}"
        )
    if result._node is not None:
        result._node.trace = user_frame()


# --------------------------------------------------------------------- free functions
def matmul(x: Any, y: Any) -> Tensor:
    """x @ y with NumPy's rules for 1-D, 2-D and batched operands."""
    left, right = as_tensor(x), as_tensor(y)
    if not isinstance(x, Tensor):
        left = _operand(x, right)
    if not isinstance(y, Tensor):
        right = _operand(y, left)
    problem = P.matmul_shape_error(left.shape, right.shape)
    if problem is not None:
        raise ValueError(problem)
    return Tensor._apply(P.MatMul, (left, right), {})


for _primitive in P.PRIMITIVES:
    if _primitive.method and P.is_unary(_primitive) and not hasattr(Tensor, _primitive.method):
        setattr(Tensor, _primitive.method, unary_method(_primitive))
