"""Every docstring the API reference renders parses as reStructuredText without a warning, so
CI's `sphinx-build -W` does not fail on one (a `*args` read as emphasis, `|x|` as a
substitution): the modules docs/api.md documents, their public names and those classes'
public members, read through napoleon's Google-style conversion as docs/conf.py does.
Needs Sphinx (the `docs` extra); without it CI's docs build checks the same."""

from __future__ import annotations

import importlib
import inspect
import io
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

docutils_core = pytest.importorskip("docutils.core", reason="needs docutils (the docs extra)")
napoleon = pytest.importorskip("sphinx.ext.napoleon", reason="needs Sphinx (the docs extra)")
napoleon_docstring = pytest.importorskip("sphinx.ext.napoleon.docstring")

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"
MODULES = re.findall(r"^\.\. automodule:: (\S+)$", API.read_text(), flags=re.M)


def _documented() -> Iterator[tuple[str, Any]]:
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            # Modules have their own section; a type alias renders as "alias of ...".
            if isinstance(value, (types.ModuleType, types.GenericAlias)):
                continue
            if callable(value):
                yield f"{module_name}.{name}", value
            if inspect.isclass(value):
                for member, attribute in vars(value).items():
                    if not member.startswith("_") and callable(attribute):
                        yield f"{module_name}.{name}.{member}", attribute


def _warnings(docstring: str) -> str:
    config = napoleon.Config(napoleon_google_docstring=True, napoleon_numpy_docstring=False)
    text = str(napoleon_docstring.GoogleDocstring(docstring, config))
    stream = io.StringIO()
    docutils_core.publish_doctree(
        text, settings_overrides={"warning_stream": stream, "report_level": 2, "halt_level": 5}
    )
    return stream.getvalue()


def test_the_api_reference_lists_the_modules_read_here() -> None:
    assert {"chainrule", "chainrule.functional", "chainrule.nn"} <= set(MODULES)


def test_every_documented_docstring_parses_without_a_warning() -> None:
    failures = {}
    for name, value in _documented():
        docstring = inspect.getdoc(value)
        if docstring:
            found = _warnings(docstring)
            if found:
                failures[name] = found.strip()
    assert not failures, "\n".join(f"{name}: {text}" for name, text in failures.items())


@pytest.mark.parametrize(
    "docstring",
    [
        "Resize x (N, C, *spatial).",  # emphasis started, never ended
        "|input - target|, reduced.",  # an undefined substitution
    ],
)
def test_the_check_sees_what_failed_the_docs_build(docstring: str) -> None:
    assert _warnings(docstring)
