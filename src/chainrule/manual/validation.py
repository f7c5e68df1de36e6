"""Input checks for the hand-derived network: every bad input fails early and says the fix.

NumPy broadcasts silently, so a wrong shape rarely raises by itself; it produces a wrong
number. These checks turn each such trap into an error naming the argument, its shape or
dtype, and what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from chainrule._types import FloatArray

PARAM_NAMES = ("w1", "b1", "w2", "b2")


def as_float_array(name: str, value: npt.ArrayLike) -> FloatArray:
    """`value` as a floating-point array: float32/float64 kept, bool/integer become float64.

    Raises TypeError for anything else (complex, strings, objects, dates) and ValueError for
    NaN or infinity, naming the first bad index.
    """
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind in "biu":
        array = array.astype(np.float64)
    elif kind == "f":
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
    else:
        raise TypeError(
            f"{name} has dtype {array.dtype}, which is not a real number type; the network "
            f"needs float32 or float64 (integer and bool are converted to float64): "
            f"pass {name}.astype(np.float64)"
        )
    require_finite(name, array)
    return array


def as_real_array(where: str, name: str, value: npt.ArrayLike) -> FloatArray:
    """`value` as an ndarray of real numbers for a layer's forward or backward: an ndarray
    passes as it is (no copy, no scan: the layers run once per step), a list or number is
    converted. Anything else (complex, strings, objects) raises TypeError naming `where`."""
    array: FloatArray = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{where}: {name} has dtype {array.dtype}, which is not a real number type; pass "
            f"a float array, e.g. np.asarray({name}, dtype=np.float64)"
        )
    return array


def require_finite(name: str, array: FloatArray) -> None:
    """Raise ValueError if `array` holds NaN or infinity, naming the first bad index."""
    finite = np.isfinite(array)
    if not finite.all():
        first_bad = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} contains {array[first_bad]} at index {first_bad} (shape {array.shape}); "
            f"gradients through a non-finite value are meaningless: remove or replace the "
            f"non-finite entries before the forward pass"
        )


def check_inputs(
    x: npt.ArrayLike, y: npt.ArrayLike, params: Mapping[str, npt.ArrayLike]
) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
    """Validate the tutorial network's inputs and return them as arrays of one float dtype.

    Shapes: x (N, n_in), y (N, n_out), w1 (n_in, n_hidden), b1 (n_hidden,),
    w2 (n_hidden, n_out), b2 (n_out,), with N >= 1. All arrays are cast to the common dtype
    of the float ones (NumPy's promotion: float32 throughout stays float32, any float64 makes
    it float64); integer or bool data take it, as in PyTorch, and float64 when all are such.
    """
    x_array = as_float_array("x", x)
    if x_array.ndim != 2:
        raise ValueError(
            f"x must be 2-D with shape (N, n_in), one row per example; got shape "
            f"{x_array.shape}: for a single example pass x.reshape(1, -1)"
        )
    n_examples, n_in = x_array.shape
    if n_examples == 0:
        raise ValueError(
            f"x has shape {x_array.shape}: N = 0 examples, and the mean loss over zero "
            f"entries is undefined; pass at least one example"
        )
    param_arrays = _check_params(params, n_in)
    n_out = param_arrays["w2"].shape[1]
    y_array = _check_targets(y, n_examples, n_out)
    given = {"x": x, "y": y, **params}
    floats = [
        array
        for name, array in {"x": x_array, "y": y_array, **param_arrays}.items()
        if np.asarray(given[name]).dtype.kind == "f"
    ]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    return (
        x_array.astype(dtype, copy=False),
        y_array.astype(dtype, copy=False),
        {name: array.astype(dtype, copy=False) for name, array in param_arrays.items()},
    )


def _check_params(params: Mapping[str, npt.ArrayLike], n_in: int) -> dict[str, FloatArray]:
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(
            f"params is missing {', '.join(missing)}; it needs the keys {', '.join(PARAM_NAMES)}: "
            f"build it with chainrule.manual.init_params(n_in, n_hidden, n_out, rng=rng)"
        )
    arrays = {name: as_float_array(name, params[name]) for name in PARAM_NAMES}
    w1 = arrays["w1"]
    if w1.ndim != 2 or w1.shape[0] != n_in:
        raise ValueError(
            f"w1 has shape {w1.shape}, expected (n_in, n_hidden) = ({n_in}, n_hidden) to "
            f"match x's {n_in} columns: x @ w1 needs w1.shape[0] == x.shape[1]"
        )
    n_hidden = w1.shape[1]
    _require_shape("b1", arrays["b1"], (n_hidden,), "(n_hidden,), one bias per hidden unit")
    w2 = arrays["w2"]
    if w2.ndim != 2 or w2.shape[0] != n_hidden:
        raise ValueError(
            f"w2 has shape {w2.shape}, expected (n_hidden, n_out) = ({n_hidden}, n_out) to "
            f"match w1's {n_hidden} hidden units: u2 @ w2 needs w2.shape[0] == w1.shape[1]"
        )
    _require_shape("b2", arrays["b2"], (w2.shape[1],), "(n_out,), one bias per output")
    return arrays


def _require_shape(name: str, array: FloatArray, expected: tuple[int, ...], meaning: str) -> None:
    if array.shape != expected:
        raise ValueError(
            f"{name} has shape {array.shape}, expected {expected}: {meaning}; a bias of any "
            f"other shape would broadcast into the wrong entries"
        )


def _check_targets(y: npt.ArrayLike, n_examples: int, n_out: int) -> FloatArray:
    y_array = as_float_array("y", y)
    expected = (n_examples, n_out)
    if y_array.shape == expected:
        return y_array
    if y_array.shape == (n_examples,):
        raise ValueError(_flat_targets_message(n_examples, n_out))
    raise ValueError(
        f"y has shape {y_array.shape}, expected (N, n_out) = {expected} (N from x, n_out "
        f"from w2): pass one row per example of x and one column per output"
    )


def _flat_targets_message(n_examples: int, n_out: int) -> str:
    """Why targets of shape (N,) are refused for outputs of shape (N, n_out), and the fix.
    NumPy lines y up with u3's last axis, so y - u3 broadcasts to (N, N) when that axis has
    length 1 (N > 1) or length N, pairing each target with the wrong output; otherwise it
    raises, or (N = n_out = 1) happens to be right."""
    flat, expected = (n_examples,), (n_examples, n_out)
    if n_out == 1:
        trap = (
            f": y - u3 would broadcast to ({n_examples}, {n_examples}) silently and give a "
            "wrong loss"
            if n_examples > 1
            else "; targets must have the output's shape exactly"
        )
        return (
            f"y has shape {flat} but the network outputs shape {expected}{trap}; "
            "pass y.reshape(-1, 1)"
        )
    trap = (
        f"; y - u3 would broadcast y along the outputs to {expected} silently and give a wrong loss"
        if n_out == n_examples
        else ""
    )
    return (
        f"y has shape {flat}, one target per example, but the network outputs shape "
        f"{expected}, {n_out} per example{trap}; pass targets of shape {expected} (one-hot "
        "encode class indices)"
    )
