"""The package reads from the bottom up: primitives -> graph/sweep -> tensor -> ops, nn,
optim -> compiler, explanation -> train -> cli. No module imports a layer above its own
(type-only imports under TYPE_CHECKING aside), and no import-time circle exists."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import chainrule

PACKAGE = Path(chainrule.__file__).resolve().parent

LAYERS: dict[str, int] = {
    "_types": 0,
    "dtypes": 0,
    "backends": 0,  # the array namespace a rule computes in (NumPy, CuPy, JAX)
    "placement": 0,  # devices (issue 16): where an array lives, moving it
    "devices": 2,  # devices (issue 16): Tensor.to, Tensor.cpu
    "primitives": 0,
    "modes": 0,
    "numpy_protocol": 0,  # where Tensor's NumPy protocols send their calls (ops plugs in)
    "pytree": 0,  # transforms: nested dicts, lists and tuples of arrays
    "files": 0,  # writing a file in one step (checkpoints, plots, drawn graphs)
    "sweep": 1,
    "graph": 1,
    "tensor": 2,
    "tensor_methods": 2,
    "ops": 3,
    "functional": 3,
    "transforms": 3,
    "nn": 3,
    "optim": 3,
    "check": 3,
    "data": 3,
    "manual": 3,
    "compiler": 4,
    "explanation": 4,
    "distributed": 4,
    "": 5,
    "train": 5,
    "exercises": 5,  # "": the package's facade, chainrule/__init__.py
    "exploration": 5,  # explore a trained run: reads train's checkpoints
    "cli": 6,
    "__main__": 6,
}
"""Each top-level module or subpackage of chainrule, and its layer (0 at the bottom)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _part(module: str) -> str:
    """The top-level part of chainrule a module belongs to ("" for the facade)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported chainrule module, at module level?) for each import outside TYPE_CHECKING;
    `from chainrule import nn` names the module chainrule.nn."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "chainrule":
                names = [
                    f"chainrule.{alias.name}"
                    if (PACKAGE / alias.name).exists() or (PACKAGE / f"{alias.name}.py").exists()
                    else "chainrule"
                    for alias in node.names
                ]
        for name in names:
            if name == "chainrule" or name.startswith("chainrule."):
                found.append((name, id(node) in top_level))
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_part_of_the_package_has_a_layer() -> None:
    assert {_part(module) for module in _modules()} <= set(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{module} (layer {LAYERS[_part(module)]}) imports {target} (layer {LAYERS[_part(target)]})"
        for module, path in _modules().items()
        for target, _ in _imports(path)
        if LAYERS[_part(target)] > LAYERS[_part(module)]
    ]
    assert upward == []


def test_nn_and_optim_never_import_the_compiler() -> None:
    found = [
        f"{module} imports {target}"
        for module, path in _modules().items()
        if _part(module) in ("nn", "optim")
        for target, _ in _imports(path)
        if _part(target) == "compiler"
    ]
    assert found == []


def test_module_level_imports_form_no_circle() -> None:
    modules = _modules()
    edges = {
        module: sorted(
            {
                target
                for target, top in _imports(path)
                if top and target in modules and target != module
            }
        )
        for module, path in modules.items()
    }
    # A subpackage's __init__ runs before its submodules, so a submodule's import of its
    # own subpackage is no circle; the facade (chainrule itself) is no exception.
    state: dict[str, int] = {}
    circles: list[str] = []
    for start in edges:
        if start in state:
            continue
        stack = [(start, iter(edges[start]))]
        state[start] = 1
        path = [start]
        while stack:
            module, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                state[module] = 2
                stack.pop()
                path.pop()
                continue
            if module.startswith(target + ".") and target != "chainrule":
                continue
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(edges[target])))
                path.append(target)
    assert circles == []


def test_each_layer_imports_alone_in_a_fresh_interpreter_bottom_up() -> None:
    present = {_part(module) for module in _modules()}
    ordered = sorted(
        (name for name in LAYERS if name and name in present and name != "__main__"),
        key=lambda name: LAYERS[name],
    )
    code = "; ".join(f"import chainrule.{name}" for name in ordered)
    subprocess.run([sys.executable, "-c", code], check=True)
