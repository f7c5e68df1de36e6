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


def _ci_lines() -> list[str]:
    return (ROOT / ".ci" / "run").read_text().strip().splitlines()


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    assert readme_commands()[1] in _ci_lines()


def test_ci_builds_the_docs_warning_free_after_the_tests() -> None:
    lines = _ci_lines()
    builds = [index for index, line in enumerate(lines) if "sphinx-build" in line]
    assert len(builds) == 1
    assert builds[0] > lines.index(readme_commands()[1])
    assert " -W " in lines[builds[0]]
    assert lines[builds[0]].startswith(".venv/bin/sphinx-build")


def test_readme_builds_the_docs_in_one_command() -> None:
    docs_commands = [command for command in readme_commands() if "sphinx-build" in command]
    assert docs_commands == [
        'python3 -m venv .venv && .venv/bin/pip install -e ".[docs]" && '
        ".venv/bin/sphinx-build -W -b html docs docs/_build/html"
    ]


def test_readme_links_to_every_tutorial() -> None:
    links = re.findall(r"\]\((docs/[^)]+)\)", (ROOT / "README.md").read_text())
    tutorials = sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "docs" / "tutorials").glob("*.md")
    )
    assert sorted(links) == tutorials
    assert len(tutorials) == 5


def test_ci_runs_the_pinned_linters_after_the_tests() -> None:
    lines = _ci_lines()
    tests = lines.index(readme_commands()[1])
    for command in (
        ".venv/bin/ruff check src tests benchmarks docs",
        ".venv/bin/ruff format --check src tests benchmarks docs",
        ".venv/bin/mypy",
    ):
        assert lines.index(command) > tests
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"ruff==[\d.]+"', pyproject)
    assert re.search(r'"mypy==[\d.]+"', pyproject)
