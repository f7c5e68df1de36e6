"""The small core API on Tensor that the rest of the package uses instead of private
attributes: from_numpy, version / increment_version, grad_fn."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule import primitives as P
from chainrule.tensor import Tensor

PACKAGE = Path(cr.__file__).resolve().parent
PRIVATE = {"_data", "_node", "_wrap", "_version", "_apply", "_counter"}
CLIENTS = [
    "graph.py",
    "sweep.py",
    "transforms",
    "functional.py",
    "nn",
    "optim",
    "compiler",
    "explanation",
    "exploration",
    "train",
    "check",
    "cli",
]


def test_from_numpy_shares_memory_and_dtype_as_torch(torch: ModuleType) -> None:
    array = np.array([1.0, 2.0], dtype=np.float64)
    tensor = Tensor.from_numpy(array)
    theirs = torch.from_numpy(array)
    array[0] = 5.0
    assert tensor.dtype == np.float64
    assert tensor.shape == (2,)
    assert tensor.data[0] == 5.0 == float(theirs[0])
    assert not tensor.requires_grad
    assert tensor.grad_fn is None


def test_from_numpy_refuses_a_dtype_chainrule_does_not_hold() -> None:
    with pytest.raises(
        TypeError, match="from_numpy: cannot make a tensor from data of dtype complex128"
    ):
        Tensor.from_numpy(np.zeros(2, dtype=np.complex128))


def test_from_numpy_refuses_what_is_not_an_ndarray() -> None:
    with pytest.raises(TypeError, match=r"from_numpy: expected an np\.ndarray, got list"):
        Tensor.from_numpy([1.0, 2.0])  # type: ignore[arg-type]


def test_increment_version_counts_for_the_view_and_its_base_as_torch(torch: ModuleType) -> None:
    from torch.autograd.graph import increment_version

    base = cr.tensor(np.arange(4.0))
    view = base.reshape(2, 2)
    theirs = torch.arange(4.0)
    their_view = theirs.reshape(2, 2)
    view.increment_version()
    increment_version(their_view)
    assert (view.version, base.version) == (their_view._version, theirs._version) == (1, 1)


def test_a_graph_that_saved_a_tensor_refuses_backward_after_increment_version() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    x.data[0] = 3.0
    x.increment_version()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_grad_fn_is_the_recorded_op_and_none_for_a_leaf() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    assert x.grad_fn is None
    assert y.grad_fn is not None
    assert y.grad_fn.primitive is P.Exp
    assert y.grad_fn.parents == (x,)
    with cr.no_grad():
        assert x.exp().grad_fn is None


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE
    ]


def test_no_module_outside_tensor_py_reaches_into_tensor_private_attributes() -> None:
    found: list[str] = []
    for client in CLIENTS:
        target = PACKAGE / client
        for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
            found.extend(_private_uses(path))
    assert found == []
