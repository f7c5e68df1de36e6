"""`import chainrule` needs NumPy alone; scikit-learn loads only when the CLI uses it."""

from __future__ import annotations

import subprocess
import sys


def test_importing_chainrule_loads_neither_sklearn_nor_torch() -> None:
    code = (
        "import sys, chainrule, chainrule.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'torch'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
