"""The README opens with the commands a newcomer runs, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text())


def test_readme_opens_with_the_main_job_then_the_test_command() -> None:
    assert readme_commands()[:2] == [
        'python3 -m venv .venv && .venv/bin/pip install -e ".[cli]" && .venv/bin/chainrule train',
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest',
    ]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    last_line = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert last_line == readme_commands()[1]
