"""The shortcuts of recording an op (issue 15) give what the full path gives: NumPy inputs of
one float dtype skip the promotion key, one thread-local read holds this thread's modes, the
requires_grad flags read once become the node's `needs`, and the node is built without a
class call."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.dtypes import float_promotion
from chainrule.modes import STATE

DTYPES = ("float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool")


def _full_lookup_dtype(op: Any, dtypes: tuple[str, ...], float_result: bool) -> np.dtype[Any]:
    """The result dtype by the rule the PROMOTIONS look-up applies (chainrule.dtypes), then
    NumPy's own promotion of the converted inputs."""
    target = float_promotion([np.dtype(d) for d in dtypes], float_result)
    arrays = [
        np.ones(3, d) if target is None or np.dtype(d).kind == "f" else np.ones(3, target)
        for d in dtypes
    ]
    return op(*arrays).dtype


@pytest.mark.parametrize("left", DTYPES)
@pytest.mark.parametrize("right", DTYPES)
def test_binary_op_result_dtype_is_the_full_look_ups_for_every_pair(left: str, right: str) -> None:
    # Same-dtype float pairs take the shortcut; every other pair the full look-up.
    a = cr.Tensor.from_numpy(np.ones(3, left))
    b = cr.Tensor.from_numpy(np.ones(3, right))
    assert (a * b).dtype == _full_lookup_dtype(np.multiply, (left, right), False)
    assert (a + b).dtype == _full_lookup_dtype(np.add, (left, right), False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_float_result_op_result_dtype_is_the_full_look_ups(dtype: str) -> None:
    x = cr.Tensor.from_numpy(np.full(3, 2, dtype))
    assert cr.exp(x).dtype == _full_lookup_dtype(np.exp, (dtype,), True)


def test_a_non_native_byte_order_float_takes_the_full_look_up_and_computes_the_same() -> None:
    # '>f4' is not the native float32 dtype object: no shortcut, same values and gradient.
    values = np.array([1.0, -2.0, 3.0], dtype=">f4")
    swapped = cr.Tensor.from_numpy(values).requires_grad_()
    native = cr.Tensor.from_numpy(values.astype(np.float32)).requires_grad_()
    (swapped * swapped).sum().backward()
    (native * native).sum().backward()
    assert swapped.grad is not None
    assert native.grad is not None
    np.testing.assert_array_equal(swapped.grad.numpy().astype(np.float32), native.grad.numpy())


def test_a_recorded_node_keeps_each_parents_requires_grad_as_read_when_recorded() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    y = x * c
    assert y.grad_fn is not None
    assert y.grad_fn.needs == (True, False)
    assert y.grad_fn.parents == (x, c)
    assert y.grad_fn.producers == (None, None)
    assert y.grad_fn.trace is None
    z = y * x
    assert z.grad_fn is not None
    assert z.grad_fn.producers == (y.grad_fn, None)
    assert z.grad_fn.recorded > y.grad_fn.recorded


def _input(values: np.ndarray, kind: str, bumps: int) -> cr.Tensor:
    """A leaf that requires grad, a constant, or a computed tensor, changed `bumps` times."""
    tensor = cr.tensor(values, requires_grad=kind != "constant")
    if kind == "computed":
        tensor = tensor * 1.0
    for _ in range(bumps):
        tensor.increment_version()
    return tensor


_OPS = {  # arity -> (the op, its inputs' shapes)
    1: (lambda a: a.exp(), [(2, 3)]),
    2: (lambda a, b: a * b, [(2, 3), (2, 3)]),
    3: (cr.functional.linear, [(2, 3), (3, 4), (4,)]),
    4: (lambda *ts: cr.stack(ts), [(2, 3)] * 4),
    5: (lambda *ts: cr.stack(ts), [(2, 3)] * 5),
}


@pytest.mark.parametrize("arity", sorted(_OPS))
@pytest.mark.parametrize("first_kind", ["leaf", "constant", "computed"])
def test_a_node_keeps_each_inputs_flag_node_and_version_in_its_own_place(
    arity: int, first_kind: str
) -> None:
    # Tensor._apply reads the snapshot slot by slot for up to three inputs, through
    # attrgetters for more: each input's entry, and nothing else, lands at its position.
    op, shapes = _OPS[arity]
    kinds = ["leaf", "constant", "computed"]
    start = kinds.index(first_kind)
    rng = np.random.default_rng(arity)
    inputs = [
        _input(rng.standard_normal(shape), kinds[(start + i) % 3], bumps=i + 1)
        for i, shape in enumerate(shapes)
    ]
    result = op(*inputs)
    node = result.grad_fn
    expected_needs = tuple(t.requires_grad for t in inputs)
    if not any(expected_needs):  # one constant input: nothing to record
        assert node is None
        assert not result.requires_grad
        return
    assert node is not None
    assert node.parents == tuple(inputs)
    assert node.needs == expected_needs
    assert all(type(need) is bool for need in node.needs)
    assert node.producers == tuple(t.grad_fn for t in inputs)
    assert node.versions == tuple(range(1, arity + 1))
    assert all(type(part) is tuple for part in (node.needs, node.producers, node.versions))
    # A snapshot: later changes in place and detach_() leave the recorded values as they were.
    for t in inputs:
        t.increment_version()
    assert node.versions == tuple(range(1, arity + 1))
    computed = [t for t in inputs if t.grad_fn is not None]
    for t in computed:
        t.detach_()
    assert sum(producer is not None for producer in node.producers) == len(computed)


def _in_a_new_thread(work: Any) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # handed to the test's thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def test_every_thread_starts_with_its_modes_in_its_own_dict() -> None:
    # Tensor._apply reads the modes in `STATE.__dict__` (one thread-local look-up): each
    # thread's dict must hold all three from its first use, with the starting values.
    def check() -> None:
        assert STATE.__dict__ == {"grad_enabled": True, "anomaly": False, "tracer": None}

    with cr.no_grad(), cr.detect_anomaly():
        _in_a_new_thread(check)


def test_an_op_that_is_a_threads_first_use_of_the_modes_is_recorded_and_not_checked() -> None:
    x = cr.tensor([np.inf, 1.0], requires_grad=True)

    def first_op() -> None:
        y = x * 2.0  # inf: under this thread's detect_anomaly it would raise
        assert y.grad_fn is not None

    with cr.no_grad(), cr.detect_anomaly():
        _in_a_new_thread(first_op)
        with pytest.raises(cr.AnomalyError, match="produced NaN or inf"):
            x * 2.0  # this thread's anomaly mode, read in the same dict
        assert (cr.tensor([1.0], requires_grad=True) * 2.0).grad_fn is None  # its no_grad
    assert (x * 2.0).grad_fn is not None
