"""tensor.py holds the data model only; the ops layer attaches the rest of Tensor's methods,
each declared for type checkers (tensor_methods.py) with the signature it has at run time."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import chainrule
from chainrule import primitives as P
from chainrule.tensor import Tensor

PACKAGE = Path(chainrule.__file__).resolve().parent
TENSOR_MODULE = PACKAGE / "tensor.py"
DECLARATIONS = PACKAGE / "tensor_methods.py"


def _declared_for_type_checkers() -> dict[str, ast.FunctionDef]:
    """The methods declared in the `if TYPE_CHECKING:` block of TensorMethods, Tensor's base."""
    tree = ast.parse(DECLARATIONS.read_text())
    tensor_class = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "TensorMethods"
    )
    return {
        declaration.name: declaration
        for block in tensor_class.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for declaration in block.body
        if isinstance(declaration, ast.FunctionDef)
    }


def _parameters(declaration: ast.FunctionDef) -> list[str]:
    arguments = declaration.args
    names = [argument.arg for argument in arguments.posonlyargs + arguments.args]
    if arguments.vararg is not None:
        names.append(f"*{arguments.vararg.arg}")
    names += [argument.arg for argument in arguments.kwonlyargs]
    return names


def _runtime_parameters(name: str) -> list[str]:
    return [
        f"*{parameter.name}"
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL
        else parameter.name
        for parameter in inspect.signature(getattr(Tensor, name)).parameters.values()
    ]


def test_tensor_module_holds_the_data_model_in_well_under_500_lines() -> None:
    assert len(TENSOR_MODULE.read_text().splitlines()) < 450


def test_ops_and_operators_are_declared_for_type_checkers_on_tensors_base() -> None:
    declared = _declared_for_type_checkers()
    for name in ("__add__", "__iadd__", "__getitem__", "sum", "softmax", "reshape", "exp"):
        assert name in declared


def test_every_declared_method_is_attached_with_the_declared_parameters() -> None:
    for name, declaration in _declared_for_type_checkers().items():
        assert name in vars(Tensor), f"Tensor.{name} is declared but never attached"
        assert _runtime_parameters(name) == _parameters(declaration), name


def test_attached_methods_keep_their_docstring_and_name() -> None:
    for name in _declared_for_type_checkers():
        method = vars(Tensor)[name]
        assert method.__name__ == name
        assert method.__qualname__ == f"Tensor.{name}"
    assert Tensor.softmax.__doc__ is not None
    assert Tensor.softmax.__doc__.startswith("exp(x) / sum(exp(x)) along `axis`")


def test_the_ops_layer_attaches_only_declared_or_generated_methods() -> None:
    tree = ast.parse(TENSOR_MODULE.read_text())
    tensor_class = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Tensor"
    )
    own = {node.name for node in tensor_class.body if isinstance(node, ast.FunctionDef)}
    own.add("__hash__")
    generated = {
        primitive.method for primitive in P.PRIMITIVES if primitive.method and P.is_unary(primitive)
    }
    attached = {
        name
        for name, value in vars(Tensor).items()
        if callable(value)
        and not isinstance(value, (classmethod, staticmethod))
        and name not in own
    }
    assert attached <= set(_declared_for_type_checkers()) | generated, attached
