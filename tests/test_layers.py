"""The package reads from the bottom up: primitives -> graph -> tensor -> ops, nn, optim ->
compiler, explanation -> train -> cli. Checked on the module-level imports (those run when a
module loads; an import inside a function is how a lower layer may reach a higher one at
call time, as Tensor.__array_ufunc__ reaches chainrule.dispatch)."""

from __future__ import annotations

import ast
from pathlib import Path

import chainrule

SOURCE = Path(chainrule.__file__).parent

# Each top-level module or package of chainrule, by layer: a module may import its own layer
# and those below, never one above.
LAYERS: dict[str, int] = {
    "_types": 0, "modes": 0, "primitives": 0,
    "graph": 1,
    "tensor": 2,
    "ops": 3, "dispatch": 3, "functional": 3, "transforms": 3, "nn": 3, "optim": 3,
    "check": 3, "manual": 3, "data": 3,
    "compiler": 4, "explanation": 4,
    "train": 5, "exercises": 5,
    "cli": 6, "__main__": 6, "__init__": 6,
}

# Upward imports that the one-sweep branch (issue 10, item 3: nn/ and optim/ reach the tracer
# through a protocol in the core) removes; delete each entry as it goes.
KNOWN_UPWARD: set[tuple[str, str]] = {
    ("chainrule.nn.batchnorm", "chainrule.compiler.tracer"),
    ("chainrule.nn.dropout", "chainrule.compiler.tracer"),
    ("chainrule.optim.lr_scheduler", "chainrule.compiler.tracer"),
    ("chainrule.optim.optimizer", "chainrule.compiler.tracer"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Each chainrule module and the chainrule modules its module-level code imports."""
    modules = {_module_name(path): path for path in SOURCE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            imported |= {c for c in candidates if c in modules and c not in (name, "chainrule")}
        graph[name] = imported
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "__init__"]


def test_every_module_has_a_layer() -> None:
    unknown = sorted(m for m in _imports() if m.split(".")[1:2] and
                     m.split(".")[1] not in LAYERS)
    assert unknown == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = {(module, target) for module, targets in _imports().items() for target in targets
              if _layer(target) > _layer(module)}
    assert upward - KNOWN_UPWARD == set()
    gone = KNOWN_UPWARD - upward
    assert gone == set(), "these upward imports are gone: drop them from KNOWN_UPWARD"


def test_module_level_imports_form_no_circle() -> None:
    graph = _imports()
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            circle = [*path[path.index(module):], module]
            raise AssertionError(f"import circle: {' -> '.join(circle)}")
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            # A package's __init__ importing its own submodules is how packages work.
            if not target.startswith(module + "."):
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
