"""benchmarks/replay_times.py keeps working: it times each step of a compiled replay and
names it. Nothing here asserts how fast anything is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "benchmarks" / "replay_times.py"


def test_replay_times_reports_every_step_of_a_w3_replay_and_the_floor() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--workload", "W3", "--replays", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    named = {" ".join(words[:-2]) for words in lines if len(words) >= 3}
    assert {"linear+relu (32, 128)", "backward", "SGD.step", "SGD.zero_grad"} <= named
    assert any(line.strip().startswith("floor step") for line in done.stdout.splitlines())
