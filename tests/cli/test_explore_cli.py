"""The `chainrule explore` command and the Python API's page: one file written, or served on
127.0.0.1 until Ctrl-C; safe JSON; inline display in a notebook."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.exploration.page import embed_json

SMALL = ["--examples", "4", "--hidden", "4", "--train-steps", "2"]


def test_explore_writes_one_html_file_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "page.html"
    assert main(["explore", "--out", str(out), *SMALL]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script src" not in text
    assert "<link" not in text


def test_explore_into_a_missing_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", "--out", str(tmp_path / "no" / "page.html"), *SMALL]) == 2
    assert capsys.readouterr().err.startswith("chainrule explore: ")


def test_explore_serve_prints_its_port_serves_and_stops_on_ctrl_c() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(chainrule.__file__).parents[1]),
        "PYTHONFAULTHANDLER": "1",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "chainrule", "explore", "--serve", *SMALL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.fullmatch(
                r"serving on http://127\.0\.0\.1:(\d+)/ \(Ctrl-C to stop\)\n", line
            )
            assert match is not None, line
            url = f"http://127.0.0.1:{match.group(1)}/"
            with urllib.request.urlopen(url) as response:
                assert response.read().decode().startswith("<!DOCTYPE html>")
            process.send_signal(signal.SIGINT)
            try:
                status = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Seen once in ~10 full runs, not reproduced alone: SIGABRT makes the child's
                # faulthandler (PYTHONFAULTHANDLER) print where each of its threads hangs.
                process.send_signal(signal.SIGABRT)
                _, stderr = process.communicate(timeout=30)
                pytest.fail(f"the server did not stop within 30 s of Ctrl-C; stderr:\n{stderr}")
            assert status == 130
        finally:
            process.kill()


def test_embedded_json_cannot_close_its_script_tag() -> None:
    text = embed_json({"name": "</script><script>alert(1)</script>", "amp": "&"})
    assert "<" not in text
    assert ">" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def test_notebook_display_is_the_page_in_a_sandboxed_iframe() -> None:
    weight = chainrule.tensor(np.ones((2, 2)), requires_grad=True, name="w")
    loss = chainrule.mean(weight * 3.0)
    exploration = chainrule.explore(loss, wrt=weight)
    shown = exploration._repr_html_()
    assert shown.startswith('<iframe srcdoc="')
    assert 'sandbox="allow-scripts"' in shown
    srcdoc = shown.split('srcdoc="', 1)[1].split('" sandbox=', 1)[0]
    assert html.unescape(srcdoc) == exploration.html


def test_explore_wrt_must_require_grad() -> None:
    data = chainrule.tensor(np.ones((2, 2)), name="d")
    weight = chainrule.tensor(np.ones((2, 2)), requires_grad=True, name="w")
    loss = chainrule.mean(data * weight)
    with pytest.raises(ValueError, match="does not require grad"):
        chainrule.explore(loss, wrt=data)


def _embedded_data(page: Path) -> dict[str, object]:
    return _json_in(page.read_text(encoding="utf-8"))


def _json_in(text: str) -> dict[str, object]:
    start = text.index('id="chainrule-data">') + len('id="chainrule-data">')
    loaded: dict[str, object] = json.loads(text[start : text.index("</script>", start)])
    return loaded


def test_explore_a_trained_run_names_its_parameters_by_path(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.html"
    assert main(["explore", str(trained_run), "--examples", "5", "--out", str(out)]) == 0
    capsys.readouterr()
    data = _embedded_data(out)
    nodes = {node["name"]: node for node in data["nodes"]}  # type: ignore[attr-defined]
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= set(nodes)
    assert nodes["x"]["shape"] == [5, 64]
    assert data["output"] == "loss"


def test_explore_a_folder_without_a_checkpoint_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule explore: no checkpoint at ")
    assert err.count("\n") == 1


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    assert (
        main(
            [
                "train",
                "--model",
                "mlp",
                "--hidden",
                "8",
                "--batch-size",
                "64",
                "--no-progress",
                "--epochs",
                "1",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    return run


def test_explain_a_trained_run_wrt_a_parameter_by_path(
    trained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["explain", str(trained_run), "--wrt", "2.bias", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The chain rule for dloss/d2.bias, 2.bias of shape (10,)")
    assert "u3   = u2 @ 2.weight + 2.bias   (3, 10)" in out


def test_explain_a_run_wrt_an_unknown_name_lists_the_parameters(
    trained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(trained_run), "--wrt", "w1"]) == 2
    assert capsys.readouterr().err == (
        "chainrule explain: --wrt 'w1' is not a parameter of the run; choose one of "
        "0.weight, 0.bias, 2.weight, 2.bias\n"
    )


def test_graph_of_a_trained_run_names_parameters_by_path(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["graph", str(trained_run), "--wrt", "0.bias", "--out", str(tmp_path / "run.svg")])
        == 0
    )
    capsys.readouterr()
    dot = (tmp_path / "run.dot").read_text()
    assert '"0.bias"' in dot
    assert "leaf" not in dot


def broken_copy(run: Path, folder: Path, *, nan_weight: bool = False, data: str = "") -> Path:
    """A copy of `run`'s checkpoint with a NaN in its first weight, or another --data."""
    from chainrule.train.checkpoint import load_checkpoint, save_checkpoint

    meta = load_checkpoint(run).meta
    if nan_weight:
        weight = np.array(meta["model"]["0.weight"])
        weight[0, 0] = np.nan
        meta["model"]["0.weight"] = weight
    if data:
        meta["config"]["data"] = data
    save_checkpoint(folder, meta)
    return folder


@pytest.mark.parametrize("case", ["no checkpoint", "NaN weight", "unknown data", "missing folder"])
def test_each_explore_error_names_the_command_once(
    case: str, trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "page.html")]
    argv = {
        "no checkpoint": [str(tmp_path), *out],
        "NaN weight": [str(broken_copy(trained_run, tmp_path / "nan", nan_weight=True)), *out],
        "unknown data": [str(broken_copy(trained_run, tmp_path / "data", data="nope")), *out],
        "missing folder": ["--out", str(tmp_path / "no" / "page.html"), *SMALL],
    }[case]
    capsys.readouterr()
    assert main(["explore", *argv]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("chainrule explore: ")
    # No second prefix: not explore's own, nor that of the training code it loads the run with.
    assert not re.match(r"[a-z]+: ", lines[0].removeprefix("chainrule explore: ")), lines[0]


def test_a_title_that_reads_like_a_placeholder_stays_that_text() -> None:
    # Before: the page's slots were filled one after another, so a title (a run folder's
    # path) holding "{{JS}}" got the whole script pasted into <title> and <h1>.
    from chainrule.exploration.page import render_page

    title = "runs/{{JS}} {{CSS}} {{DATA}} {{TITLE}}"
    page = render_page({"name": "{{JS}}"}, title)
    assert f"<title>{title}</title>" in page
    assert f'<h1 id="title">{title}</h1>' in page
    assert page.count('"use strict";') == 1
    assert _json_in(page) == {"name": "{{JS}}"}


@pytest.mark.parametrize("command", ["explore", "explain", "graph"])
def test_more_examples_than_the_runs_test_split_holds_is_refused(
    command: str, trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: quietly cut to the test split's size, so the page (or derivation) was of
    # fewer examples than asked for.
    capsys.readouterr()
    out = ["--out", str(tmp_path / "out.svg")] if command != "explain" else []
    assert main([command, str(trained_run), "--examples", "100000", *out]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(
        rf"chainrule {command}: 100000 examples asked for, and the test split of digits "
        r"holds (\d+); choose from 1 to \1 \(--examples on the command line\)\n",
        captured.err,
    ), captured.err
    assert list(tmp_path.iterdir()) == []
