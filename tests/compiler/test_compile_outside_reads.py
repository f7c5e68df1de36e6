"""A step whose own code reads the clock, a file or the terminal is refused while traced.

Such a value changes from call to call with nothing the guards or the signature can see, and
a replay repeats no Python code: the traced reading was replayed silently, in a branch taken
on it or in an op (a coarse clock, equal in the first two traces, passed their comparison).
Library code reading the clock inside the step (logging's record stamps, a package's own
timing) is not the step's own and must not be refused."""

from __future__ import annotations

import datetime
import importlib.util
import io
import logging
import os
import pathlib
import re
import sys
import sysconfig
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError

NEEDS_JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="backend='xla' needs jax"
)
BACKENDS = ["numpy", pytest.param("xla", marks=NEEDS_JAX)]

CLOCKS: dict[str, Callable[[], float]] = {
    "time.time()": time.time,
    "time.perf_counter()": time.perf_counter,
    "time.monotonic()": time.monotonic,
    "time.process_time()": time.process_time,
    "time.time_ns()": lambda: float(time.time_ns()),
    "time.localtime()": lambda: float(time.localtime().tm_hour),
    "datetime.now()": lambda: datetime.datetime.now().timestamp(),
    "datetime.utcnow()": lambda: datetime.datetime.utcnow().timestamp(),
    "date.today()": lambda: float(datetime.date.today().toordinal()),
    "datetime.today()": lambda: datetime.datetime.today().timestamp(),
}


def _compiled(step: Callable[[Any], cr.Tensor], backend: str = "numpy") -> Any:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    return cr.compile(step, backend=backend)


@pytest.mark.parametrize("name", list(CLOCKS))
def test_a_branch_on_the_clock_is_refused(name: str) -> None:
    """Eagerly, which branch runs depends on the time of each call; the replay took the
    traced call's branch forever."""
    read = CLOCKS[name]
    weight = cr.tensor(np.ones(3), requires_grad=True)
    start = read()

    def step(x: np.ndarray) -> cr.Tensor:
        if read() - start < 3600.0:  # within the first hour: the traced branch
            return (cr.tensor(x) * weight).sum()
        return (cr.tensor(x) * weight * 0.1).sum()

    with pytest.raises(CompileError, match=rf"read the clock \({name}.*\) while it was traced"):
        cr.compile(step)(np.arange(3.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_coarse_clock_in_an_op_is_refused(backend: str) -> None:
    """A learning-rate factor from the day: equal in the first two traces, so comparing them
    found nothing, and the replay kept the traced day's factor."""
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        factor = 1.0 + datetime.date.today().toordinal() % 7
        return (cr.tensor(x) * weight * factor).sum()

    compiled = _compiled(step, backend)
    with pytest.raises(CompileError, match=r"date\.today\(\), at .*test_compile_outside_reads"):
        compiled(np.arange(3.0))
    assert "np.asarray(time.perf_counter())" in _refusal(compiled)


def _refusal(compiled: Any) -> str:
    try:
        compiled(np.arange(3.0))
    except CompileError as error:
        return str(error)
    raise AssertionError("the step was not refused")


def _elapsed(start: float) -> float:
    return time.perf_counter() - start


def test_a_clock_read_by_a_helper_of_the_user_is_refused() -> None:
    """The reading is made by a user function the step calls, not by the step itself."""
    weight = cr.tensor(np.ones(3), requires_grad=True)
    start = time.perf_counter()

    def step(x: np.ndarray) -> cr.Tensor:
        warmup = min(1.0, _elapsed(start) / 60.0)
        return (cr.tensor(x) * weight * warmup).sum()

    with pytest.raises(CompileError, match=r"time\.perf_counter\(\), at .*return time"):
        cr.compile(step)(np.arange(3.0))


def test_logging_in_the_step_is_not_refused() -> None:
    """logging stamps each record with the clock: the standard library's reading, not the
    step's. The step compiles and replays as eager does."""
    stream = io.StringIO()
    logger = logging.getLogger("chainrule.tests.outside_reads")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        logger.info("step")
        return (cr.tensor(x) * weight).sum()

    try:
        compiled = cr.compile(step)
        for _ in range(4):
            got = compiled(np.arange(3.0)).numpy()
            assert got.shape == ()
            assert got == 3.0
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().count("step") == 2  # the two traces logged; replays do not
    assert compiled.traces == 2


def test_a_clock_read_by_an_installed_package_is_not_refused() -> None:
    """Code from site-packages (a progress bar, a profiler) times itself inside the step:
    that reading is the package's own, so the step compiles. The package is stood in for by
    code compiled under a file name in site-packages, which is how its frames are told
    apart from the user's."""
    filename = os.path.join(sysconfig.get_paths()["purelib"], "chainrule_clock_probe.py")
    source = "def rate(start):\n    return 1.0 / (time.perf_counter() - start)\n"
    namespace: dict[str, Any] = {"time": time}
    exec(compile(source, filename, "exec"), namespace)
    rate = namespace["rate"]
    start = time.perf_counter()
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        rate(start)  # shown by a progress bar, say; not used in the step's values
        return (cr.tensor(x) * weight).sum()

    compiled = cr.compile(step)
    for _ in range(3):
        got = compiled(np.arange(3.0)).numpy()
        assert got.shape == ()
        assert got == 3.0
    assert compiled.traces == 2


def test_a_clock_read_by_an_optimizer_hook_is_not_refused() -> None:
    """A step hook of the user's runs inside optimizer.step(), which a replay runs again:
    its clock read is made afresh at every call, so the step compiles."""
    weight = cr.nn.Parameter(np.ones((3, 2)))
    optimizer = cr.optim.SGD([weight], lr=0.1)
    stamps: list[float] = []
    optimizer.register_step_post_hook(lambda _: stamps.append(time.perf_counter()))

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = (cr.tensor(x) @ weight).sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = cr.compile(step)
    for _ in range(4):
        compiled(np.ones((5, 3)))
    assert compiled.traces == 2
    assert len(stamps) == 4  # read at every call, the replays' too
    assert stamps == sorted(stamps)


def test_the_clock_passed_as_a_0d_array_replays_each_value() -> None:
    """The fix the refusal names: the reading as a 0-d array argument, bound at each call."""
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray, seconds: np.ndarray) -> cr.Tensor:
        return (cr.tensor(x) * weight * cr.tensor(seconds)).sum()

    compiled = cr.compile(step)
    for seconds in (1.0, 2.0, 3.0, 4.0, 5.0):
        got = compiled(np.arange(3.0), np.asarray(seconds)).numpy()
        expected = step(np.arange(3.0), np.asarray(seconds)).numpy()
        assert got.shape == expected.shape == ()
        assert got == expected == 3.0 * seconds
    assert compiled.traces == 2


def _open_and_read(folder: pathlib.Path) -> float:
    with open(folder / "scale.txt") as file:
        return float(file.read())


FILE_READS: dict[str, Callable[[pathlib.Path], float]] = {
    "open()": _open_and_read,
    "Path.read_text()": lambda folder: float((folder / "scale.txt").read_text()),
    "Path.read_bytes()": lambda folder: float((folder / "scale.txt").read_bytes()),
    "np.loadtxt()": lambda folder: float(np.loadtxt(folder / "scale.txt")),
    "np.load()": lambda folder: float(np.load(folder / "scale.npy")),
    "np.fromfile()": lambda folder: float(np.fromfile(folder / "scale.f64")[0]),
}


@pytest.mark.parametrize("name", list(FILE_READS))
def test_a_file_read_by_the_step_is_refused(name: str, tmp_path: pathlib.Path) -> None:
    """The scale is read from a file inside the step: equal in the first two traces, so
    comparing them found nothing, and a replay kept the traced value after the file
    changed."""
    (tmp_path / "scale.txt").write_text("2.0")
    np.save(tmp_path / "scale.npy", np.float64(2.0))
    np.array([2.0]).tofile(tmp_path / "scale.f64")
    read = FILE_READS[name]
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        return (cr.tensor(x) * weight * read(tmp_path)).sum()

    assert step(np.arange(3.0)).numpy() == 6.0  # eagerly, the file is read
    pattern = rf"opened a file \({re.escape(name)}, at .*test_compile_outside_reads"
    with pytest.raises(CompileError, match=pattern):
        cr.compile(step)(np.arange(3.0))


def test_input_in_the_step_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A branch on what the terminal gives: a replay took the traced answer forever."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 4))
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        if input() == "y":
            return (cr.tensor(x) * weight).sum()
        return (cr.tensor(x) * weight * 0.0).sum()

    with pytest.raises(CompileError, match=r"read the terminal \(input\(\), at "):
        cr.compile(step)(np.arange(3.0))


def test_a_file_read_by_an_installed_package_is_not_refused(tmp_path: pathlib.Path) -> None:
    """A package reading its own data inside the step (a tokenizer's table, a font): its
    frame, not the step's, opens the file. Stood in for as in the clock's test above."""
    (tmp_path / "table.txt").write_text("ab")
    filename = os.path.join(sysconfig.get_paths()["purelib"], "chainrule_file_probe.py")
    source = "def size(path):\n    with open(path) as f:\n        return len(f.read())\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    size = namespace["size"]
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        size(tmp_path / "table.txt")  # not used in the step's values
        return (cr.tensor(x) * weight).sum()

    compiled = cr.compile(step)
    for _ in range(3):
        got = compiled(np.arange(3.0)).numpy()
        assert got.shape == ()
        assert got == 3.0
    assert compiled.traces == 2
