"""The table of derivatives: every primitive with its forward and vector-Jacobian product."""

from chainrule.primitives.activation import (
    Elu,
    Erf,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    Softplus,
    Softsign,
)
from chainrule.primitives.base import Primitive, is_unary
from chainrule.primitives.broadcast import broadcast_shapes, sum_to_shape
from chainrule.primitives.call import call, is_array
from chainrule.primitives.classification import NLLLoss
from chainrule.primitives.conv import (
    AvgPool2d,
    AvgPool2dTranspose,
    Conv1d,
    Conv2d,
    ConvTranspose,
    ConvWeightGrad,
    MaxPool2d,
)
from chainrule.primitives.elementwise import (
    Abs,
    Add,
    Cast,
    Clip,
    Div,
    Exp,
    Log,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    PowScalar,
    ReLU,
    Sigmoid,
    Sin,
    Sqrt,
    Sub,
    Tanh,
    Where,
)

# --- element-wise math (issue 14)
from chainrule.primitives.elementwise_math import (
    Arccos,
    Arccosh,
    Arcsin,
    Arcsinh,
    Arctan,
    Arctan2,
    Arctanh,
    Ceil,
    Cos,
    Cosh,
    Exp2,
    Expm1,
    Floor,
    Fmod,
    Hypot,
    Lerp,
    Log1p,
    Log2,
    Log10,
    Logaddexp,
    Reciprocal,
    Remainder,
    Round,
    Rsqrt,
    Sign,
    Sinh,
    Square,
    Tan,
    Trunc,
)
from chainrule.primitives.embedding import Embedding
from chainrule.primitives.linalg import Linear, MatMul, matmul_shape_error
from chainrule.primitives.linalg_more import Diagonal, DiagonalEmbed, Einsum, Tril, Triu
from chainrule.primitives.loss import (
    BinaryCrossEntropy,
    MSELoss,
    SoftmaxCrossEntropy,
    TargetOutsideClasses,
)
from chainrule.primitives.reduction import Max, Mean, Min, Sum, keepdims_shape, normalize_axes
from chainrule.primitives.reduction_more import CumProd, CumSum, LogCumSumExp, Norm2, Prod
from chainrule.primitives.shape import (
    BroadcastTo,
    Concatenate,
    GetItem,
    Reshape,
    ScatterAdd,
    Stack,
    Transpose,
)
from chainrule.primitives.shape_more import Flip, Pad, Repeat, Roll, Tile

# Every primitive, one line each: the completeness test, explain, the compiler and the
# generated functions, methods and NumPy dispatch all read this list.
PRIMITIVES: tuple[type[Primitive], ...] = (
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Pow,
    PowScalar,
    Exp,
    Log,
    Sqrt,
    Abs,
    Tanh,
    Sigmoid,
    Sin,
    ReLU,
    Maximum,
    Minimum,
    Where,
    Clip,
    Cast,
    Sum,
    Mean,
    Max,
    Min,
    MatMul,
    Linear,
    Reshape,
    Transpose,
    BroadcastTo,
    GetItem,
    ScatterAdd,
    Concatenate,
    Stack,
    MSELoss,
    SoftmaxCrossEntropy,
    # --- linear algebra (issue 14)
    Einsum,
    Diagonal,
    DiagonalEmbed,
    Tril,
    Triu,
    # --- element-wise math (issue 14)
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Arctan2,
    Sinh,
    Cosh,
    Arcsinh,
    Arccosh,
    Arctanh,
    Exp2,
    Expm1,
    Log2,
    Log10,
    Log1p,
    Logaddexp,
    Hypot,
    Square,
    Reciprocal,
    Rsqrt,
    Sign,
    Floor,
    Ceil,
    Round,
    Trunc,
    Fmod,
    Remainder,
    Lerp,
    # --- reductions (issue 14)
    Prod,
    Norm2,
    CumSum,
    CumProd,
    LogCumSumExp,
    # --- activations (issue 14)
    Erf,
    Softplus,
    Elu,
    LeakyReLU,
    Hardtanh,
    Hardsigmoid,
    Hardswish,
    Softsign,
    # --- layers and losses (issue 14)
    Embedding,
    NLLLoss,
    BinaryCrossEntropy,
    # --- shape (issue 14)
    Flip,
    Roll,
    Tile,
    Repeat,
    Pad,
    # --- convolutions (issue 14)
    Conv1d,
    Conv2d,
    ConvTranspose,
    ConvWeightGrad,
    MaxPool2d,
    AvgPool2d,
    AvgPool2dTranspose,
)

__all__ = [
    "PRIMITIVES",
    "Abs",
    "Add",
    "BinaryCrossEntropy",
    "BroadcastTo",
    "Cast",
    "Clip",
    "Concatenate",
    "Div",
    "Elu",
    "Embedding",
    "Erf",
    "Exp",
    "Flip",
    "GetItem",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "Linear",
    "Log",
    "MSELoss",
    "MatMul",
    "Max",
    "Maximum",
    "Mean",
    "Min",
    "Minimum",
    "Mul",
    "NLLLoss",
    "Neg",
    "Pad",
    "Pow",
    "PowScalar",
    "Primitive",
    "ReLU",
    "Repeat",
    "Reshape",
    "Roll",
    "ScatterAdd",
    "Sigmoid",
    "Sin",
    "SoftmaxCrossEntropy",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Stack",
    "Sub",
    "Sum",
    "Tanh",
    "TargetOutsideClasses",
    "Tile",
    "Transpose",
    "Where",
    "broadcast_shapes",
    "call",
    "is_array",
    "is_unary",
    "keepdims_shape",
    "matmul_shape_error",
    "normalize_axes",
    "sum_to_shape",
]

# --- linear algebra (issue 14)
__all__ += ["Diagonal", "DiagonalEmbed", "Einsum", "Tril", "Triu"]
# --- element-wise math (issue 14)
__all__ += [
    "Arccos",
    "Arccosh",
    "Arcsin",
    "Arcsinh",
    "Arctan",
    "Arctan2",
    "Arctanh",
    "Ceil",
    "Cos",
    "Cosh",
    "Exp2",
    "Expm1",
    "Floor",
    "Fmod",
    "Hypot",
    "Lerp",
    "Log1p",
    "Log2",
    "Log10",
    "Logaddexp",
    "Reciprocal",
    "Remainder",
    "Round",
    "Rsqrt",
    "Sign",
    "Sinh",
    "Square",
    "Tan",
    "Trunc",
]
# --- reductions (issue 14)
__all__ += ["CumProd", "CumSum", "LogCumSumExp", "Norm2", "Prod"]
# --- convolutions (issue 14)
__all__ += [
    "AvgPool2d",
    "AvgPool2dTranspose",
    "Conv1d",
    "Conv2d",
    "ConvTranspose",
    "ConvWeightGrad",
    "MaxPool2d",
]

# --- review of issue 14: integer and bool inputs
from chainrule.primitives.reduction_more import PNorm  # noqa: E402

PRIMITIVES += (PNorm,)
FLOAT_RESULTS: frozenset[type[Primitive]] = frozenset(
    {
        *(Exp, Log, Sqrt, Tanh, Sigmoid, Sin, Cos, Tan, Arcsin, Arccos, Arctan, Arctan2),
        *(Sinh, Cosh, Arcsinh, Arccosh, Arctanh, Exp2, Expm1, Log2, Log10, Log1p),
        *(Logaddexp, Hypot, Reciprocal, Rsqrt, Lerp, Mean, Norm2, PNorm, LogCumSumExp),
        *(MSELoss, SoftmaxCrossEntropy, NLLLoss, BinaryCrossEntropy, AvgPool2d),
        *(Erf, Softplus, Elu, LeakyReLU, Hardtanh, Hardsigmoid, Hardswish, Softsign),
    }
)
"""The primitives whose result is a float even for integer or bool inputs. Such inputs are
taken as the float operands' dtype, or float32 (PyTorch's default dtype) when none is a
float: NumPy would give float16 for bool and int8, float64 for int64, and an integer (0 for
1/3) from sigmoid's and reciprocal's float16-preserving forms."""
INT64_RESULTS: dict[type[Primitive], str] = {
    **dict.fromkeys((Sum, Prod, CumSum, CumProd), "bu"),
    Square: "b",
}
"""The primitives whose integer result is int64, as PyTorch's, for inputs of the NumPy kinds
named: sums and products of bool and unsigned integers (NumPy accumulates unsigned ones in
uint64, where 3 - 5 wraps to 2**64 - 2), the square of a bool (NumPy's int8)."""
__all__ += ["FLOAT_RESULTS", "INT64_RESULTS", "PNorm"]
# --- vocabulary: nan_to_num (chainrule.ops.vocabulary)
from chainrule.primitives.vocabulary import NanToNum  # noqa: E402

PRIMITIVES += (NanToNum,)
__all__ += ["NanToNum"]
