"""Sphinx configuration of chainrule's documentation: the course (MyST notebooks, executed on
every build) and the API reference generated from the docstrings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Document and execute this checkout's chainrule, not whichever one the environment has
# installed: a venv shared between checkouts (git worktrees) holds an editable install of one
# of them. The notebooks' kernels inherit PYTHONPATH.
SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))

import chainrule  # noqa: E402  (after the path above is set)

project = "chainrule"
author = "chainrule developers"
copyright = "2026, chainrule developers"
release = chainrule.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = "chainrule"

# Every tutorial runs on every build, and one that raises fails it (CI uses -W too).
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]

autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
