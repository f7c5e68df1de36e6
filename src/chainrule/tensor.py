"""`Tensor`: an ndarray that remembers how it was computed, so `backward()` can apply the
chain rule through every op that produced it.

Operators and methods record primitives (see `chainrule.primitives`); NumPy functions applied
to a Tensor (`np.exp(t)`, `np.sum(t, axis=0)`) dispatch here too, so the same derivative
rules run on arrays and, for gradients of gradients, on Tensors.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import primitives as P
from chainrule.graph import Node, run_backward
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
        run_backward(self, grad_root, retain_graph=retain_graph or create_graph,
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
            left, right = inputs
            raise ValueError(
                f"{primitive.name}: shapes {left.shape} and {right.shape} cannot broadcast; "
                "trailing dimensions must be equal or 1 (reshape one, e.g. y.reshape(-1, 1))"
            ) from None

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
    def exp(self) -> Tensor:
        """e ** x;  derivative exp(x)."""
        return Tensor._apply(P.Exp, (self,), {})

    def log(self) -> Tensor:
        """Natural log;  derivative 1 / x."""
        return Tensor._apply(P.Log, (self,), {})

    def sqrt(self) -> Tensor:
        """Square root;  derivative 1 / (2 sqrt(x))."""
        return Tensor._apply(P.Sqrt, (self,), {})

    def abs(self) -> Tensor:
        """``|x|``;  derivative sign(x)."""
        return Tensor._apply(P.Abs, (self,), {})

    def tanh(self) -> Tensor:
        """tanh(x);  derivative 1 - tanh(x)**2."""
        return Tensor._apply(P.Tanh, (self,), {})

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x);  derivative s (1 - s)."""
        return Tensor._apply(P.Sigmoid, (self,), {})

    def relu(self) -> Tensor:
        """max(x, 0);  derivative [x > 0]."""
        return Tensor._apply(P.ReLU, (self,), {})

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
        addend = _raw(other)
        self._data += addend if alpha == 1.0 else alpha * addend
        return self._mutated()

    def sub_(self, other: Any) -> Tensor:
        """self -= other, in place."""
        self._check_in_place("sub_")
        self._data -= _raw(other)
        return self._mutated()

    def mul_(self, other: Any) -> Tensor:
        """``self *= other``, in place."""
        self._check_in_place("mul_")
        self._data *= _raw(other)
        return self._mutated()

    def copy_(self, source: Any) -> Tensor:
        """Overwrite the values with `source`'s (same shape), in place."""
        self._check_in_place("copy_")
        values = _raw(source)
        if np.shape(values) != self.shape:
            raise ValueError(f"copy_: source shape {np.shape(values)} differs from {self.shape}")
        self._data[...] = values
        return self._mutated()

    # ----------------------------------------------------------------- NumPy protocol
    def __array_ufunc__(
        self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any
    ) -> Any:
        if method != "__call__":
            raise TypeError(
                f"numpy.{ufunc.__name__}.{method} is not supported on chainrule tensors; use a "
                "chainrule op (such as t.sum()), or call it on t.detach().numpy() for a plain "
                "array without gradient"
            )
        if kwargs:
            _refuse_numpy_arguments(ufunc.__name__, kwargs)
        if ufunc in _COMPARISONS:
            _refuse_comparison_while_tracing(f"numpy.{ufunc.__name__}", *inputs)
            return ufunc(*(_raw(x) for x in inputs))
        implementation = _UFUNCS.get(ufunc)
        if implementation is None:
            raise TypeError(
                f"numpy.{ufunc.__name__} has no gradient in chainrule; use a chainrule op, or "
                "call it on t.detach().numpy() for a plain array without gradient"
            )
        return implementation(*inputs)

    def __array_function__(
        self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any
    ) -> Any:
        implementation = _FUNCTIONS.get(func)
        if implementation is None:
            raise TypeError(
                f"numpy.{getattr(func, '__name__', func)} is not supported on chainrule tensors; "
                "use a chainrule op, or call it on t.detach().numpy() for a plain array without "
                "gradient"
            )
        return implementation(*args, **kwargs)


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


def _pair(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    if isinstance(x, Tensor):
        return x, _operand(y, x)
    right = as_tensor(y)
    return _operand(x, right), right


def maximum(x: Any, y: Any) -> Tensor:
    """Element-wise max(x, y); where they tie, each gets half the gradient."""
    left, right = _pair(x, y)
    return left._binary(P.Maximum, right, False)


def minimum(x: Any, y: Any) -> Tensor:
    """Element-wise min(x, y); where they tie, each gets half the gradient."""
    left, right = _pair(x, y)
    return left._binary(P.Minimum, right, False)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """x where `condition` holds, else y; the gradient flows to the chosen side only."""
    left, right = _pair(x, y)
    mask = np.asarray(_raw(condition), dtype=bool)
    try:
        return Tensor._apply(P.Where, (left, right), {"condition": mask})
    except CompileError:
        raise
    except ValueError:
        raise ValueError(
            f"where: condition {mask.shape}, x {left.shape} and y {right.shape} cannot "
            "broadcast together"
        ) from None


def _join(op: str, primitive: type[P.Primitive], tensors: Sequence[Any], axis: int) -> Tensor:
    if len(tensors) == 0:
        raise ValueError(f"{op}: needs at least one tensor")
    inputs = tuple(as_tensor(t) for t in tensors)
    ndim = inputs[0].ndim
    if primitive is P.Concatenate and ndim == 0:
        raise ValueError(
            f"{op}: 0-d tensors have no axis to join along; use chainrule.stack to make a "
            "1-D tensor of them"
        )
    if primitive is P.Concatenate and not -ndim <= axis < ndim:
        raise ValueError(
            f"{op}: axis {axis} is out of range for tensors with {ndim} dimensions "
            f"(valid: {-ndim} to {ndim - 1})"
        )
    if primitive is P.Concatenate and any(t.ndim != ndim for t in inputs):
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ValueError(f"{op} along axis {axis}: shapes {shapes} do not fit: they need the "
                         "same number of dimensions")
    try:
        return Tensor._apply(primitive, inputs, {"axis": axis})
    except CompileError:
        raise
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ValueError(f"{op} along axis {axis}: shapes {shapes} do not fit: {error}") from None


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """The tensors joined along an existing axis."""
    return _join("concatenate", P.Concatenate, tensors, axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """The tensors stacked along a new axis."""
    return _join("stack", P.Stack, tensors, axis)


def _unary(name: str) -> Callable[[Any], Tensor]:
    def function(x: Any) -> Tensor:
        result: Tensor = getattr(as_tensor(x), name)()
        return result

    return function


def _numpy_reduction(method: str) -> Callable[..., Tensor]:
    """np.sum, np.mean, np.max, ... on a tensor: `dtype=` converts first (as NumPy
    accumulates in it), the rest goes to the method."""

    def function(a: Any, axis: Axis = None, dtype: npt.DTypeLike | None = None,
                 keepdims: bool = False) -> Tensor:
        tensor = as_tensor(a) if dtype is None else as_tensor(a).astype(dtype)
        result: Tensor = getattr(tensor, method)(axis=axis, keepdims=keepdims)
        return result

    return function


def _numpy_var(a: Any, axis: Axis = None, dtype: npt.DTypeLike | None = None, ddof: int = 0,
               keepdims: bool = False, correction: int | None = None) -> Tensor:
    if correction is not None:
        if ddof != 0:
            raise ValueError("numpy.var: give ddof or correction, not both")
        ddof = correction
    tensor = as_tensor(a) if dtype is None else as_tensor(a).astype(dtype)
    return tensor.var(axis=axis, keepdims=keepdims, ddof=ddof)


def _numpy_concatenate(arrays: Sequence[Any], axis: int | None = 0) -> Tensor:
    if axis is None:
        return concatenate([as_tensor(t).reshape(-1) for t in arrays], 0)
    return concatenate(arrays, axis)


def _numpy_broadcast_to(array: Any, shape: int | Sequence[int]) -> Tensor:
    target = (int(shape),) if isinstance(shape, (int, np.integer)) else shape
    return as_tensor(array).broadcast_to(target)


def _numpy_where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None and y is None:
        return np.nonzero(_raw(condition))  # indices: no gradient, as comparisons
    if x is None or y is None:
        raise ValueError("numpy.where: give both x and y, or neither (for the indices)")
    return where(condition, x, y)


def _numpy_clip(a: Any, a_min: Any = None, a_max: Any = None, min: Any = None,
                max: Any = None) -> Tensor:
    if (a_min is not None and min is not None) or (a_max is not None and max is not None):
        raise ValueError("numpy.clip: give a_min or min (a_max or max), not both")
    return as_tensor(a).clip(a_min if a_min is not None else min,
                             a_max if a_max is not None else max)


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    simple = (str, bool, int, float, type(None))
    return isinstance(default, simple) and type(value) is type(default) and value == default


def _refuse_numpy_arguments(name: str, refused: dict[str, Any]) -> None:
    shown = ", ".join(
        f"{key}=<array of shape {value.shape}>" if isinstance(value, np.ndarray)
        else f"{key}={value!r}" for key, value in refused.items()
    )
    raise TypeError(
        f"numpy.{name}: {shown} is not supported on chainrule tensors; leave it out (use the "
        "returned tensor), or call NumPy on t.detach().numpy() for a plain array without "
        "gradient"
    )


def _numpy_function(
    func: Callable[..., Any], implementation: Callable[..., Any], honoured: str
) -> Callable[..., Any]:
    """`implementation` called as NumPy calls `func`: the arguments are bound with func's own
    signature (so positional ones land where NumPy puts them), those in `honoured` are passed
    on by name, and any other one given a value other than NumPy's default is refused."""
    name = getattr(func, "__name__", str(func))
    signature = inspect.signature(func)
    passed_on = frozenset(honoured.split())

    def function(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)  # NumPy already checked the call itself
        arguments: dict[str, Any] = {}
        refused: dict[str, Any] = {}
        for parameter_name, value in bound.arguments.items():
            parameter = signature.parameters[parameter_name]
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                refused.update(value)
            elif parameter_name in passed_on:
                if value is not parameter.default:
                    arguments[parameter_name] = value
            elif not _is_default(value, parameter.default):
                refused[parameter_name] = value
        if refused:
            _refuse_numpy_arguments(name, refused)
        return implementation(**arguments)

    return function


def _binary_function(method: str) -> Callable[[Any, Any], Tensor]:
    def function(x: Any, y: Any) -> Tensor:
        left, right = _pair(x, y)
        result: Tensor = getattr(left, method)(right)
        return result

    return function


def _power(x: Any, y: Any) -> Tensor:
    base = as_tensor(x) if isinstance(x, Tensor) else _pair(x, y)[0]
    result: Tensor = base**y
    return result


_UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: _binary_function("__add__"),
    np.subtract: _binary_function("__sub__"),
    np.multiply: _binary_function("__mul__"),
    np.true_divide: _binary_function("__truediv__"),
    np.power: _power,
    np.matmul: matmul,
    np.negative: lambda x: -as_tensor(x),
    np.positive: as_tensor,
    np.exp: _unary("exp"),
    np.log: _unary("log"),
    np.sqrt: _unary("sqrt"),
    np.absolute: _unary("abs"),
    np.tanh: _unary("tanh"),
    np.maximum: maximum,
    np.minimum: minimum,
}

_COMPARISONS = frozenset(
    {np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal, np.isfinite,
     np.isnan, np.isinf, np.sign}
)

_FUNCTION_IMPLEMENTATIONS: tuple[tuple[Callable[..., Any], Callable[..., Any], str], ...] = (
    (np.sum, _numpy_reduction("sum"), "a axis dtype keepdims"),
    (np.mean, _numpy_reduction("mean"), "a axis dtype keepdims"),
    (np.max, _numpy_reduction("max"), "a axis keepdims"),
    (np.amax, _numpy_reduction("max"), "a axis keepdims"),
    (np.min, _numpy_reduction("min"), "a axis keepdims"),
    (np.amin, _numpy_reduction("min"), "a axis keepdims"),
    (np.var, _numpy_var, "a axis dtype ddof keepdims correction"),
    (np.reshape, lambda a, shape: as_tensor(a).reshape(shape), "a shape"),
    (np.transpose, lambda a, axes=None: as_tensor(a).transpose(*(() if axes is None else
                                                                  (axes,))), "a axes"),
    (np.swapaxes, lambda a, axis1, axis2: as_tensor(a).swapaxes(axis1, axis2),
     "a axis1 axis2"),
    (np.broadcast_to, _numpy_broadcast_to, "array shape"),
    (np.concatenate, _numpy_concatenate, "arrays axis"),
    (np.stack, lambda arrays, axis=0: stack(arrays, axis), "arrays axis"),
    (np.where, _numpy_where, "condition x y"),
    (np.clip, _numpy_clip, "a a_min a_max min max"),
    (np.shape, lambda a: np.shape(_raw(a)), "a"),
    (np.ndim, lambda a: np.ndim(_raw(a)), "a"),
    (np.size, lambda a, axis=None: np.size(_raw(a), axis), "a axis"),
)

_FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    func: _numpy_function(func, implementation, honoured)
    for func, implementation, honoured in _FUNCTION_IMPLEMENTATIONS
}
