"""`import chainrule` brings nn and optim along and loads no third-party package but NumPy."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import chainrule
assert chainrule.nn.Linear and chainrule.optim.Adam
loaded = {name.split('.')[0] for name in sys.modules if not name.startswith('_')}
print(sorted(loaded - set(sys.stdlib_module_names)
             - {'chainrule', 'chainrule_cli_entry', 'numpy'}))
"""


def test_import_chainrule_loads_only_numpy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
