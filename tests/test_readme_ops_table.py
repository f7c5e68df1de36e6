"""The README's "Ops by family" table names only what exists: each plain name is
`chainrule.<name>` or a `Tensor` method, `t.<name>` a method, `functional.<name>` and
`nn.<Name>` their modules' members; and where NumPy has a function or ufunc of a listed op's
name, calling it on a tensor runs that op (the table's header promises NumPy dispatch there)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional, nn
from chainrule.ops import dispatch

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_rows() -> dict[str, str]:
    text = README.read_text()
    start = text.index("| family | ops |")
    rows: dict[str, str] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        family, ops = (cell.strip() for cell in line.strip("|").split("|", 1))
        rows[family] = ops
    return rows


def _names(ops: str) -> list[tuple[str, str]]:
    """(namespace, name) for each identifier in the row's code spans; `functional.` and
    `nn.` set the namespace of the names after them in the same span."""
    found: list[tuple[str, str]] = []
    for span in re.findall(r"`([^`]+)`", ops):
        namespace = "chainrule"
        for word in span.split():
            match = re.fullmatch(r"(?:(functional|nn|t)\.)?([A-Za-z_][A-Za-z0-9_]*)", word)
            if match is None or word in ("functional", "nn"):
                continue  # operators (+ - @), t[...], "their `nn` modules"
            if match.group(1):
                namespace = match.group(1)
            found.append((namespace, match.group(2)))
    return found


ROWS = _table_rows()
ENTRIES = sorted(
    {(family, namespace, name) for family, ops in ROWS.items() for namespace, name in _names(ops)}
)


def test_the_table_has_its_families_and_the_vocabulary_added_last_session() -> None:
    assert {"arithmetic", "shape and indexing", "factories", "layers and losses"} <= set(ROWS)
    names = {name for _, _, name in ENTRIES}
    for name in ("chunk", "unbind", "amax", "bmm", "addmm", "scatter", "put_along_axis"):
        assert name in names
    for name in ("view", "zeros", "linspace", "randn", "normalize", "cdist", "interpolate"):
        assert name in names


@pytest.mark.parametrize(("family", "namespace", "name"), ENTRIES)
def test_each_name_in_the_table_exists(family: str, namespace: str, name: str) -> None:
    if namespace == "functional":
        assert callable(getattr(functional, name, None)), f"functional.{name}"
    elif namespace == "nn":
        assert isinstance(getattr(nn, name, None), type), f"nn.{name}"
    elif namespace == "t":
        assert callable(getattr(cr.Tensor, name, None)), f"Tensor.{name}"
    else:
        assert callable(getattr(cr, name, None)) or callable(getattr(cr.Tensor, name, None)), name


# NumPy's writes in place and returns None; chainrule's returns a new tensor, so the NumPy
# call is refused with a message naming chainrule.put_along_axis (test_numpy_dispatch.py).
NOT_DISPATCHED = {"put_along_axis"}


def _numpy_counterparts() -> list[str]:
    return sorted(
        {
            name
            for family, namespace, name in ENTRIES
            if namespace == "chainrule"
            and family != "factories"
            and name not in NOT_DISPATCHED
            and callable(getattr(np, name, None))
            and not isinstance(getattr(np, name), type)
        }
    )


@pytest.mark.parametrize("name", _numpy_counterparts())
def test_numpy_dispatches_each_listed_op_it_has_a_name_for(name: str) -> None:
    function = getattr(np, name)
    if isinstance(function, np.ufunc):
        assert function in dispatch._UFUNCS, f"np.{name}"
    else:
        assert function in dispatch._FUNCTIONS, f"np.{name}"
