"""Python's operators on a Tensor: arithmetic (`a + b`, `a @ b`, `-a`, `a ** 2`) records
primitives, with a number or array operand taking the tensor's dtype; comparisons give plain
boolean arrays, which have no gradient. Attached to Tensor when chainrule.ops is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import placement
from chainrule import primitives as P
from chainrule.modes import STATE, CompileError
from chainrule.tensor import Tensor, _raw, as_tensor, attach_methods


def _operand(value: Any, like: Tensor) -> Tensor:
    """The other operand of a binary op: a number (Python's or a NumPy scalar such as the
    np.float64 that np.mean returns) or an integer array takes a float tensor's dtype, so
    float32 stays float32, as in PyTorch; a float array keeps its own (NumPy's promotion
    applies)."""
    if isinstance(value, Tensor):
        return value
    if type(like._data) is not np.ndarray:
        return _foreign_operand(value, like)
    if like._data.dtype.kind != "f" and isinstance(value, (bool, int, float, np.generic)):
        return Tensor._wrap(np.asarray(value, dtype=_number_dtype(value, like._data.dtype)))
    if (
        type(value) is float
        or type(value) is int
        or (
            isinstance(value, np.generic)
            and value.dtype.kind in "biuf"
            and like._data.dtype.kind == "f"
        )
    ):
        return Tensor._wrap(np.asarray(value, dtype=like._data.dtype))
    array = np.asarray(value)
    if array.dtype.kind != "f" or not isinstance(value, np.ndarray):
        if array.dtype.kind not in "biuf":
            raise TypeError(f"cannot combine a tensor with a value of dtype {array.dtype}")
        # Beside an integer tensor, floats in a list are float32 as a float number is (cast
        # to the tensor's dtype, 0.5 was truncated to 0), and an integer or bool array keeps
        # its dtype, so the two promote as NumPy and PyTorch do (cast to int8, 300 wrapped).
        if like._data.dtype.kind == "f":
            if STATE.tracer is not None and isinstance(value, np.ndarray):
                # Recorded, so a compiled step's integer argument is cast afresh each call
                # (a NumPy astype here would be a constant frozen at the first call's values).
                argument = Tensor._wrap(value.view(np.ndarray))
                return Tensor._apply(P.Cast, (argument,), {"dtype": like.dtype})
            array = array.astype(like.dtype)
        elif array.dtype.kind == "f":
            array = array.astype(np.float32)
    return Tensor._wrap(array)


def _foreign_operand(value: Any, like: Tensor) -> Tensor:
    """The other operand beside a tensor of another library (CuPy, JAX, ...): a number, a
    list or a NumPy array (a constant, as the rules make when run on Tensors for gradients
    of gradients) becomes an array there, by the rules above; another library's array is
    taken as it is, so one of another library or device is refused by the op, naming both."""
    if placement.is_foreign(value):
        return Tensor._wrap(value)
    numpy_operand = _operand(value, Tensor._wrap(np.empty((), like.dtype)))
    return Tensor._wrap(placement.move(numpy_operand._data, like.device))


def _number_dtype(value: Any, like: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype a number takes beside an integer or bool tensor, as in PyTorch: a float is
    float32 (the default dtype; the result is then a float), an int takes an integer tensor's
    dtype (int64 beside a bool one), a bool takes the tensor's dtype."""
    kind = np.asarray(value).dtype.kind
    if kind == "f":
        return np.dtype(np.float32)
    if kind in "iu" and like.kind == "b":
        return np.dtype(np.int64)
    if kind not in "biu":
        raise TypeError(
            f"cannot combine a {like} tensor with a value of dtype {np.asarray(value).dtype}"
        )
    if like.kind in "iu" and not np.iinfo(like).min <= int(value) <= np.iinfo(like).max:
        limits = np.iinfo(like)
        raise ValueError(
            f"cannot combine a {like} tensor with the integer {int(value)}: it is outside "
            f"{like}'s range [{limits.min}, {limits.max}] (PyTorch would wrap it around); "
            "widen the tensor first: chainrule.Tensor.from_numpy(x.numpy().astype(np.int64))"
        )
    return like


def promote(left: Tensor, right: Tensor) -> tuple[Tensor, Tensor]:
    """The operands of a binary op, an integer or bool one converted to the other's float
    dtype (as PyTorch: int64 with float32 gives float32, where NumPy gives float64), so the
    result and the float operand's gradient keep that float dtype. Integer and bool tensors
    never require grad, so the conversion carries no gradient."""
    left_dtype, right_dtype = left._data.dtype, right._data.dtype
    try:
        left_float, right_float = left_dtype.kind == "f", right_dtype.kind == "f"
    except AttributeError:  # array_api_strict's dtypes have no kind: ask Tensor.dtype
        left_float, right_float = left.dtype.kind == "f", right.dtype.kind == "f"
    if left_float == right_float:
        if not left_float and (left.dtype.kind == "b") != (right.dtype.kind == "b"):
            # an integer beside a bool: the bool as that integer, as NumPy and PyTorch
            # promote (the array API standard has no arithmetic on bools: array_api_strict
            # refused int * bool)
            if left.dtype.kind == "b":
                return Tensor._apply(P.Cast, (left,), {"dtype": right.dtype}), right
            return left, Tensor._apply(P.Cast, (right,), {"dtype": left.dtype})
        if left_dtype is not right_dtype and (left._data.ndim == 0) != (right._data.ndim == 0):
            return _zero_dim_promoted(left, right)
        return left, right
    if left_float:
        return left, Tensor._apply(P.Cast, (right,), {"dtype": left.dtype})
    return Tensor._apply(P.Cast, (left,), {"dtype": right.dtype}), right


def _zero_dim_promoted(left: Tensor, right: Tensor) -> tuple[Tensor, Tensor]:
    """Operands of one kind (two floats, or two integers) of different dtypes, one 0-d and
    one not: the 0-d one converted to the other's dtype, as PyTorch promotes (a 0-d tensor
    does not widen a dimensioned one of its kind: float32 (3,) with a float64 0-d tensor is
    float32, int32 with int64 is int32, where NumPy 2 widens both). A 0-d integer outside the
    other's range is refused, where PyTorch would wrap it around."""
    if left.dtype == right.dtype or "b" in (left.dtype.kind, right.dtype.kind):
        return left, right
    zero_dim, like = (left, right) if left.ndim == 0 else (right, left)
    if like.dtype.kind in "iu":
        value, limits = int(zero_dim._data), np.iinfo(like.dtype)
        if not limits.min <= value <= limits.max:
            raise ValueError(
                f"cannot combine a {like.dtype} tensor of shape {like.shape} with the 0-d "
                f"{zero_dim.dtype} tensor {value}: it is outside {like.dtype}'s range "
                f"[{limits.min}, {limits.max}] (PyTorch would wrap it around); widen the "
                f"tensor first: chainrule.Tensor.from_numpy(x.numpy().astype(np.{zero_dim.dtype}))"
            )
    converted = Tensor._apply(P.Cast, (zero_dim,), {"dtype": like.dtype})
    return (converted, right) if zero_dim is left else (left, converted)


def _refuse_negative_integer_powers(base: np.dtype[Any], exponents: np.ndarray) -> None:
    """Refuse integers to negative integer powers (not integers), by name, where NumPy's
    own error would not say which op or what to do; PyTorch gives 0 for 2 ** -1."""
    if exponents.dtype.kind == "i" and np.any(exponents < 0):
        raise ValueError(
            f"pow: {base} integers to the negative integer power "
            f"{exponents[exponents < 0].flat[0]} are not integers; make the base or the "
            "exponent a float first: x.astype(np.float32) ** exponent, or 2.0 ** exponent"
        )


def _refuse_comparison_while_tracing(comparison: str, *operands: Any) -> None:
    """Under chainrule.compile's tracing, refuse a comparison of a traced tensor: its result,
    a plain boolean array, would be frozen at the first call (in an `if` or a mask)."""
    if STATE.tracer is None:
        return
    for operand in operands:
        if isinstance(operand, Tensor):
            STATE.tracer.refuse_conversion(
                operand,
                f"comparison {comparison}" if comparison[0] in "<>=!" else comparison,
                "; for a mask, use chainrule ops (relu, maximum, minimum, clip) instead",
            )


def matmul(x: Any, y: Any) -> Tensor:
    """x @ y with NumPy's rules for 1-D, 2-D and batched operands."""
    left, right = as_tensor(x), as_tensor(y)
    if not isinstance(x, Tensor):
        left = _operand(x, right)
    if not isinstance(y, Tensor):
        right = _operand(y, left)
    left, right = promote(left, right)
    problem = P.matmul_shape_error(left.shape, right.shape)
    if problem is not None:
        raise ValueError(problem)
    return Tensor._apply(P.MatMul, (left, right), {})


def _binary(self: Tensor, primitive: type[P.Primitive], other: Any, reflected: bool) -> Tensor:
    other_tensor = _operand(other, self)
    if primitive is P.Div and self.dtype.kind != "f" and other_tensor.dtype.kind != "f":
        # True division of integers is a float: float32, as PyTorch (NumPy gives float64).
        other_tensor = Tensor._apply(P.Cast, (other_tensor,), {"dtype": np.dtype(np.float32)})
    inputs = promote(other_tensor, self) if reflected else promote(self, other_tensor)
    if primitive in _INTEGER_CHECKED and inputs[0].dtype.kind in "biu":
        _check_integer_operands(primitive, inputs[0], inputs[1])
    try:
        return Tensor._apply(primitive, inputs, {})
    except CompileError:
        raise
    except ValueError:
        P.broadcast_shapes(primitive.name, inputs[0].shape, inputs[1].shape)
        raise
    except TypeError:
        if primitive is P.Sub and inputs[0].dtype.kind == "b":
            raise TypeError(
                f"sub: cannot subtract two bool tensors (shapes {inputs[0].shape} and "
                f"{inputs[1].shape}), as PyTorch refuses; for the elements that differ use "
                "np.logical_xor on their .numpy(), or convert first: "
                "chainrule.Tensor.from_numpy(x.numpy().astype(np.int64)) - y"
            ) from None
        raise


_INTEGER_CHECKED = frozenset({P.Pow, P.Remainder, P.Fmod})
"""The binary primitives whose integer and bool operands `_check_integer_operands` checks."""


def _check_integer_operands(primitive: type[P.Primitive], left: Tensor, right: Tensor) -> None:
    """Refuse what PyTorch refuses and NumPy answers with a wrong dtype or value: pow,
    remainder and fmod of two bool tensors (NumPy gives int8), integers to negative integer
    powers, and an integer remainder or fmod by zero (NumPy gives 0, with a warning)."""
    if left.dtype.kind == "b" and right.dtype.kind == "b":
        raise TypeError(
            f"{primitive.name}: not defined for two bool tensors (shapes {left.shape} and "
            f"{right.shape}), as in PyTorch; convert one first: "
            "chainrule.Tensor.from_numpy(x.numpy().astype(np.int64))"
        )
    if primitive is P.Pow:
        _refuse_negative_integer_powers(left.dtype, right._data)
    elif np.any(right._data == 0):
        raise ZeroDivisionError(
            f"{primitive.name}: {left.dtype} integers by an integer divisor of 0 (shapes "
            f"{left.shape} and {right.shape}) have no value, as PyTorch refuses; make the "
            "operands floats first (x.astype(np.float32)) for NaN there"
        )


def __add__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Add, other, False)


def __radd__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Add, other, True)


def __sub__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Sub, other, False)


def __rsub__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Sub, other, True)


def __mul__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Mul, other, False)


def __rmul__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Mul, other, True)


def __truediv__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Div, other, False)


def __rtruediv__(self: Tensor, other: Any) -> Tensor:
    return _binary(self, P.Div, other, True)


def __pow__(self: Tensor, exponent: Any) -> Tensor:
    if isinstance(exponent, (np.integer, np.floating)):
        exponent = exponent.item()  # a NumPy scalar is a constant, as a Python number
    if self.dtype.kind in "iu" and type(exponent) is int and exponent < 0:
        raise ValueError(
            f"pow: a tensor of dtype {self.dtype} to the negative integer power {exponent} is "
            "not an integer; convert it first: x.astype(np.float32) ** "
            f"{exponent}"
        )
    if self.dtype.kind != "f" and type(exponent) is float:
        return Tensor._apply(P.Cast, (self,), {"dtype": np.dtype(np.float32)}) ** exponent
    if self.dtype.kind == "b" and type(exponent) is int:
        # bool ** int is int64, as in PyTorch (x * x would keep bool: True + True is True)
        return Tensor._apply(P.Cast, (self,), {"dtype": np.dtype(np.int64)}) ** exponent
    if self.dtype.kind == "b" and type(exponent) is bool:
        # x ** True is x, x ** False is True: bool, as in PyTorch (NumPy gives int8)
        return Tensor._apply(P.Cast, (self ** int(exponent),), {"dtype": np.dtype(bool)})
    if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        return Tensor._apply(P.PowScalar, (self,), {"exponent": exponent})
    return _binary(self, P.Pow, exponent, False)


def __rpow__(self: Tensor, base: Any) -> Tensor:
    return _binary(self, P.Pow, base, True)


def __matmul__(self: Tensor, other: Any) -> Tensor:
    return matmul(self, other)


def __rmatmul__(self: Tensor, other: Any) -> Tensor:
    return matmul(other, self)


def __neg__(self: Tensor) -> Tensor:
    try:
        return Tensor._apply(P.Neg, (self,), {})
    except TypeError:
        if self.dtype.kind == "b":
            raise TypeError(
                f"neg: cannot negate a bool tensor (shape {self.shape}), as PyTorch refuses; "
                "for the logical not take np.logical_not(x.numpy()), or convert first: "
                "-chainrule.Tensor.from_numpy(x.numpy().astype(np.int64))"
            ) from None
        raise


def __pos__(self: Tensor) -> Tensor:
    return self


def __abs__(self: Tensor) -> Tensor:
    """abs(x), as x.abs() (NumPy arrays and PyTorch tensors take Python's abs too)."""
    return self.abs()


# Comparisons give plain boolean arrays: they have no gradient.
def __lt__(self: Tensor, other: Any) -> np.ndarray:
    _refuse_comparison_while_tracing("<", self, other)
    result: np.ndarray = self._data < _raw(other)
    return result


def __le__(self: Tensor, other: Any) -> np.ndarray:
    _refuse_comparison_while_tracing("<=", self, other)
    result: np.ndarray = self._data <= _raw(other)
    return result


def __gt__(self: Tensor, other: Any) -> np.ndarray:
    _refuse_comparison_while_tracing(">", self, other)
    result: np.ndarray = self._data > _raw(other)
    return result


def __ge__(self: Tensor, other: Any) -> np.ndarray:
    _refuse_comparison_while_tracing(">=", self, other)
    result: np.ndarray = self._data >= _raw(other)
    return result


def __eq__(self: Tensor, other: object) -> Any:
    _refuse_comparison_while_tracing("==", self, other)
    return self._data == _raw(other)


def __ne__(self: Tensor, other: object) -> Any:
    _refuse_comparison_while_tracing("!=", self, other)
    return self._data != _raw(other)


attach_methods(
    __add__,
    __radd__,
    __sub__,
    __rsub__,
    __mul__,
    __rmul__,
    __truediv__,
    __rtruediv__,
    __pow__,
    __rpow__,
    __matmul__,
    __rmatmul__,
    __neg__,
    __pos__,
    __abs__,
    __lt__,
    __le__,
    __gt__,
    __ge__,
    __eq__,
    __ne__,
)
