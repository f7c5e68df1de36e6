"""Check chainrule on a GPU in one run: the op table against PyTorch CUDA, training steps on
the GPU against the same steps on the CPU, and the four workloads timed against PyTorch eager
CUDA, each part in its own time box, the results written as they come.

    python benchmarks/gpu_check.py [--device cuda|cpu] [--out DIR] [--quick]
                                   [--budget SECONDS] [--parts env,ops,train,speed]
                                   [--cases NAME,...]

`--device cuda` (the default) runs chainrule on CuPy arrays (`Tensor.to("cuda")`), PyTorch on
CUDA and JAX on its GPU; it refuses in one line, exit status 2, where CuPy or a GPU is missing.
`--device cpu` is the dry run that takes every code path on a machine without a GPU: the
"device" library is array_api_strict (the array API standard and nothing else) and the
reference PyTorch on the CPU. Its figures are CPU figures and its report says so.

Parts: env (GPU, driver, library versions), ops (every case of tests/engine/engine_cases.py:
values and gradients in float64 and float32 against PyTorch on the same device, one line per
case), train (the tutorial network with SGD and an nn.Sequential MLP with Adam, on the device
and on CPU NumPy, loss by loss; compile(backend="xla") on JAX's device against the NumPy
replay), speed (W1-W4 of benchmarks/workloads.py: chainrule eager on the device, chainrule
compile xla, PyTorch eager, JAX jit; medians of interleaved rounds, each step synchronised,
ratios to PyTorch eager). The report (DIR/gpu-check-<device>.txt) is written line by line and
the JSON (DIR/gpu-check-<device>.json) after every part, so a run stopped from outside still
leaves what it measured. Exit status: 0 every check passed, 1 a check failed, 2 refused.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import numpy as np

# JAX takes 75% of the GPU's memory at its first computation unless told otherwise; CuPy and
# PyTorch share the GPU with it here.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for folder in (HERE, ROOT / "tests" / "engine"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

PARTS = ("env", "ops", "train", "speed")
SHARES = {"env": 0.03, "ops": 0.37, "train": 0.2, "speed": 0.4}
"""Each part's share of the time left when it starts (a part that ends early leaves its
time to the later ones)."""
GRACE = 20.0
"""Seconds a part may overrun its box inside one uninterruptible call before the alarm."""
TARGET_RATIO = 1.10
"""Issue 16's target: chainrule eager on W1 and W2 within 10% of PyTorch eager CUDA."""
TARGET_WORKLOADS = ("W1", "W2")
QUICK_WORKLOADS = ("W1", "W3")
"""--quick times these two: the MSE path and the cross-entropy path."""
LOSS_RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
"""Largest relative difference allowed between two loss sequences of the same training."""


# --------------------------------------------------------------------- where it runs
@dataclass
class Target:
    """The device under test: where chainrule's tensors go, PyTorch's device, and how to wait
    for the work queued on it."""

    name: str  # "cuda" or "cpu"
    device: Any  # what Tensor.to and Module.to take: "cuda", or the array_api_strict module
    library: str  # the array library chainrule computes in there
    torch_device: str
    synchronize: Callable[[], None]
    dry_run: bool


def cuda_target() -> Target | str:
    """The CUDA target, or one line saying why there is none."""
    from chainrule.placement import cuda_problem

    problem = cuda_problem()
    if problem is not None:
        return problem
    import cupy
    import torch

    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA GPU (the reference needs one); run on an NVIDIA GPU machine"

    def synchronize() -> None:
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()

    return Target("cuda", "cuda", "cupy", "cuda", synchronize, dry_run=False)


def full_float32_products() -> None:
    """float32 matrix products in float32 everywhere, as CuPy computes them by default: no
    TF32 in PyTorch (its default already), JAX's matmul precision "highest" (on a GPU JAX's
    default may take TF32, whose errors near 1e-3 are over the loss comparison's 1e-4)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    with contextlib.suppress(ImportError):
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")


def limit_threads() -> Any:
    """The dry run's one BLAS, PyTorch and XLA thread: on a small shared CPU more threads make
    PyTorch's times erratic (shared/PERFORMANCE.md). The GPU run leaves the libraries as they
    are. Returns the handle that keeps the BLAS limit."""
    import jax  # imported first: set_threads limits the libraries already imported
    import torch

    from threads import set_threads

    del jax, torch
    handle, _ = set_threads(1)
    return handle


def cpu_target() -> Target:
    """The dry run's target: array_api_strict arrays on the CPU, PyTorch on the CPU."""
    import array_api_strict

    return Target("cpu", array_api_strict, "array_api_strict", "cpu", lambda: None, dry_run=True)


# --------------------------------------------------------------------- the report
class TimeBox(BaseException):
    """A part ran past its time box (raised by the alarm; a BaseException, so that no
    `except Exception` on the way swallows it)."""


class Report:
    """The text report, written and flushed line by line, and the JSON, rewritten whole after
    each part; both land in `out`."""

    def __init__(self, out: Path, stem: str) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.text_path = out / f"{stem}.txt"
        self.json_path = out / f"{stem}.json"
        self.text = self.text_path.open("w", encoding="utf-8")
        self.data: dict[str, Any] = {"parts": {}}
        self.failures: list[str] = []

    def line(self, text: str = "") -> None:
        with contextlib.suppress(OSError):  # a closed stdout (a pipe) must not stop the report
            print(text, flush=True)
        self.text.write(text + "\n")
        self.text.flush()

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def save(self) -> None:
        self.data["failures"] = self.failures
        self.json_path.write_text(json.dumps(self.data, indent=2, default=str) + "\n")

    def close(self) -> None:
        self.save()
        self.text.close()


class Clock:
    """The run's total budget, handed out to the parts as they start."""

    def __init__(self, budget: float, parts: list[str]) -> None:
        self.end = time.monotonic() + budget
        self.pending = list(parts)

    def left(self) -> float:
        return self.end - time.monotonic()

    def box(self, part: str) -> float:
        """Seconds for `part`: its share of what is left among the parts still to run."""
        shares = sum(SHARES[name] for name in self.pending)
        seconds = max(0.0, self.left()) * SHARES[part] / shares
        self.pending.remove(part)
        return seconds


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeBox


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise TimeBox in the main thread after `seconds` (plus GRACE): the hard stop of a part
    whose own checks between cases did not come in time."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.0) + GRACE)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _error(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:160]}"


def _processor() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, where platform.processor() is empty)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _load_average() -> str:
    """The 1, 5 and 15 minute load averages of the machine (shared machines are noisy)."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _version(name: str) -> str:
    try:
        module = importlib.import_module(name)
    except Exception as error:
        return f"not available ({_error(error)})"
    return str(getattr(module, "__version__", "installed"))


# --------------------------------------------------------------------- env
def part_env(target: Target, report: Report, seconds: float) -> dict[str, Any]:
    """The machine, the GPU, the driver and the libraries' versions."""
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _processor(),
        "cpu_count": os.cpu_count(),
        "load_average": _load_average(),
    }
    for name in ("numpy", "torch", "cupy", "jax", "jaxlib", "array_api_compat", "hypothesis"):
        info[name] = _version(name)
    if target.dry_run:
        info["array_api_strict"] = _version("array_api_strict")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    info["chainrule_commit"] = commit or "unknown (no git here)"
    if target.name == "cuda":
        import cupy

        properties = torch.cuda.get_device_properties(0)
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
        info["gpu_multiprocessors"] = properties.multi_processor_count
        info["cuda_driver_api"] = cupy.cuda.runtime.driverGetVersion()
        info["cuda_runtime_api"] = cupy.cuda.runtime.runtimeGetVersion()
        info["torch_cuda"] = torch.version.cuda
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=max(1.0, min(seconds, 15.0)),
                check=False,
            )
            info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
        except (OSError, subprocess.TimeoutExpired) as error:
            info["nvidia_smi"] = f"not available ({_error(error)})"
    else:
        info["gpu"] = "none: CPU dry run"
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(device) for device in jax.devices()]
    except Exception as error:
        info["jax_backend"] = f"not available ({_error(error)})"
    info["device_library"] = target.library
    info["torch_device"] = target.torch_device
    info["float32_products"] = "float32 (no TF32 in PyTorch; JAX matmul precision 'highest')"
    for key, value in info.items():
        report.line(f"  {key}: {value}")
    return info


# --------------------------------------------------------------------- ops
def _drawn(case: Any, variants: int) -> list[tuple[list[np.ndarray], dict[str, Any]]]:
    """One reproducible example (float64 arrays, params) for each of the first `variants`
    variants of `case`, drawn by the op table's own strategy."""
    from engine_cases import op_inputs
    from hypothesis import Phase, find, settings

    drawn = []
    for variant in case.variants[:variants]:
        drawn.append(
            find(
                op_inputs(replace(case, variants=[variant])),
                lambda _: True,
                settings=settings(
                    max_examples=1, database=None, derandomize=True, phases=[Phase.generate]
                ),
            )
        )
    return drawn


def _torch_reference(
    torch: ModuleType, case: Any, inputs: list[np.ndarray], params: dict[str, Any], device: str
) -> tuple[Any, list[Any]]:
    """PyTorch's output and leaf tensors for `case` on `device`."""
    leaves = [torch.tensor(array, requires_grad=True, device=device) for array in inputs]
    return case.torch(torch, *leaves, **params), leaves


def case_errors(
    target: Target, torch: ModuleType, case: Any, inputs: list[np.ndarray], params: dict[str, Any]
) -> tuple[float, str]:
    """The largest relative error of `case`'s value and gradients on the target against
    PyTorch's (the measure of tests/engine/test_ops_vs_torch.py), and a note ("" or where the
    reference ran when PyTorch could not take these params on the device)."""
    from engine_cases import relative_error

    import chainrule as cr

    note = ""
    try:
        reference, leaves = _torch_reference(torch, case, inputs, params, target.torch_device)
    except (RuntimeError, TypeError):
        if target.torch_device == "cpu":
            raise
        # Index arrays, masks and class weights in the op table are CPU tensors.
        reference, leaves = _torch_reference(torch, case, inputs, params, "cpu")
        note = "torch reference on cpu"
    ours = [cr.tensor(array, requires_grad=True).to(target.device) for array in inputs]
    out = case.chainrule(*ours, **params)
    expected = reference.detach().cpu().numpy()
    if out.dtype != expected.dtype:
        raise AssertionError(f"dtype {out.dtype}, PyTorch's {expected.dtype}")
    if out.device != ours[0].device:
        raise AssertionError(f"the output is on {out.device}, the inputs on {ours[0].device}")
    cotangent = np.random.default_rng(0).normal(size=expected.shape).astype(expected.dtype)
    out.backward(cr.tensor(cotangent).to(out.device))
    reference.backward(torch.from_numpy(cotangent).to(reference.device))
    input_scale = max((float(np.max(np.abs(a))) for a in inputs if a.size), default=0.0)
    errors = [relative_error(out.numpy(), expected, floor=input_scale)]
    for position, (tensor, leaf) in enumerate(zip(ours, leaves, strict=True)):
        if tensor.grad is None:
            raise AssertionError(f"no gradient for input {position}")
        if tensor.grad.device != tensor.device:
            raise AssertionError(f"gradient {position} is on {tensor.grad.device}")
        scale = float(np.max(np.abs(cotangent), initial=0.0))
        errors.append(relative_error(tensor.grad.numpy(), leaf.grad.cpu().numpy(), floor=scale))
    # A NaN error (a NaN where PyTorch has a number) is the worst: max() would skip it.
    return (math.inf if any(math.isnan(e) for e in errors) else max(errors)), note


def part_ops(
    target: Target, report: Report, seconds: float, quick: bool, names: set[str] | None
) -> dict[str, Any]:
    """Every op-table case on the target against PyTorch on the same device."""
    import torch
    from engine_cases import CASES
    from test_ops_vs_torch import TOLERANCE

    deadline = time.monotonic() + seconds
    variants = 1 if quick else 3
    cases = [case for case in CASES if names is None or case.name in names]
    dtypes = (np.dtype(np.float64), np.dtype(np.float32))
    tolerance = {dtype.name: TOLERANCE[dtype] for dtype in dtypes}
    allowed = ", ".join(f"{name} {value:.0e}" for name, value in tolerance.items())
    report.line(
        f"  {len(cases)} cases, the first {variants} variant(s) of each; relative error of the "
        f"value and every gradient, allowed {allowed}"
    )
    results: list[dict[str, Any]] = []
    counts = {"pass": 0, "fail": 0, "not run": 0}
    worst = {dtype.name: (0.0, "") for dtype in dtypes}
    for index, case in enumerate(cases):
        if time.monotonic() > deadline:
            counts["not run"] = len(cases) - index
            report.line(f"  TIME BOX: {len(cases) - index} cases not run")
            break
        entry: dict[str, Any] = {"case": case.name, "errors": {}}
        problems: list[str] = []
        notes: set[str] = set()
        try:
            examples = _drawn(case, variants)
        except Exception as error:
            examples, problems = [], [f"drawing inputs: {_error(error)}"]
        for dtype in dtypes:
            largest = 0.0
            for arrays, params in examples:
                try:
                    error, note = case_errors(
                        target, torch, case, [a.astype(dtype) for a in arrays], params
                    )
                except Exception as failure:
                    problems.append(f"{dtype.name}: {_error(failure)}")
                    continue
                if note:
                    notes.add(note)
                largest = max(largest, error)
            entry["errors"][dtype.name] = largest
            if largest > tolerance[dtype.name]:
                problems.append(f"{dtype.name} error {largest:.2e} > {tolerance[dtype.name]:.0e}")
            if largest >= worst[dtype.name][0]:
                worst[dtype.name] = (largest, case.name)
        passed = not problems
        counts["pass" if passed else "fail"] += 1
        entry.update(passed=passed, problems=problems, notes=sorted(notes))
        results.append(entry)
        errors = "  ".join(f"{name} {value:.1e}" for name, value in entry["errors"].items())
        detail = "; ".join(problems + sorted(notes))
        report.line(
            f"  {'PASS' if passed else 'FAIL'}  {case.name:<30} {errors}"
            + (f"  ({detail})" if detail else "")
        )
        if not passed:
            report.fail(f"ops: {case.name}")
    worst_text = ", ".join(f"{name} {value:.1e} ({op})" for name, (value, op) in worst.items())
    report.line(
        f"  summary: {counts['pass']} pass, {counts['fail']} fail, {counts['not run']} not run "
        f"of {len(cases)}; largest error {worst_text}"
    )
    return {"cases": results, "counts": counts, "worst": worst, "tolerance": tolerance}


# --------------------------------------------------------------------- train
def tutorial_losses(device: Any, dtype: np.dtype, steps: int, rows: int) -> list[float]:
    """The tutorial network (784-50-1: u = x w1 + b1, relu, u w2 + b2, mean squared error) in
    Tensor ops, trained `steps` SGD steps on `device` from W1's data and initial weights."""
    import chainrule as cr
    from chainrule import optim
    from workloads import WORKLOADS, make_problem

    problem = make_problem(WORKLOADS["W1"], quick=True)
    weights, biases = problem.fresh_params()
    params = [
        cr.tensor(array.astype(dtype), requires_grad=True).to(device)
        for pair in zip(weights, biases, strict=True)
        for array in pair
    ]
    w1, b1, w2, b2 = params
    x = cr.tensor(problem.x[:rows].astype(dtype)).to(device)
    y = cr.tensor(problem.targets[:rows].astype(dtype)).to(device)
    optimizer = optim.SGD(params, lr=problem.lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = (((x @ w1 + b1).relu() @ w2 + b2 - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses


def mlp_losses(device: Any, dtype: np.dtype, steps: int) -> list[float]:
    """nn.Sequential(Linear 784-256, ReLU, Linear 256-256, ReLU, Linear 256-10) with
    cross-entropy and Adam, moved with Module.to(device), on W2's data and initial weights."""
    import chainrule as cr
    from chainrule import nn, optim
    from workloads import WORKLOADS, make_problem

    problem = make_problem(WORKLOADS["W2"])
    weights, biases = problem.fresh_params()
    layers: list[nn.Module] = []
    for w, b in zip(weights, biases, strict=True):
        linear = nn.Linear(w.shape[0], w.shape[1], rng=np.random.default_rng(0), dtype=dtype)
        linear.weight.data = w.astype(dtype)
        assert linear.bias is not None
        linear.bias.data = b.astype(dtype)
        layers += [linear, nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    model.to(device)
    x = cr.tensor(problem.x.astype(dtype)).to(device)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), problem.targets)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses


def compiled_losses(backend: str, workload: str, steps: int) -> list[float]:
    """chainrule.compile of W`n`'s nn + optim SGD step: backend "xla" (impl_xla, JAX's default
    device) or "numpy" (impl_compiled, the NumPy replay)."""
    from implementations import BY_KEY, load
    from workloads import WORKLOADS, make_problem

    step = load(BY_KEY["xla" if backend == "xla" else "compiled"])(
        make_problem(WORKLOADS[workload], quick=True)
    )
    return [float(step().item()) for _ in range(steps)]


def compare_losses(
    report: Report, title: str, expected: list[float], actual: list[float], rtol: float
) -> dict[str, Any]:
    """The two loss sequences side by side, their largest relative difference, pass or fail."""
    differences = [
        abs(a - e) / max(abs(e), np.finfo(np.float64).tiny)
        if math.isfinite(a) and math.isfinite(e)
        else math.inf
        for a, e in zip(actual, expected, strict=True)
    ]
    largest = max(differences, default=math.inf)  # no losses at all fail too
    passed = largest <= rtol
    report.line(
        f"  {'PASS' if passed else 'FAIL'}  {title}: max relative difference "
        f"{largest:.1e} (allowed {rtol:.0e})"
    )
    report.line(f"        {'step':>4}  {'cpu (numpy)':>16}  {'device':>16}  {'rel diff':>8}")
    for index, (e, a, d) in enumerate(zip(expected, actual, differences, strict=True)):
        report.line(f"        {index + 1:>4}  {e:>16.9g}  {a:>16.9g}  {d:>8.1e}")
    if not passed:
        report.fail(f"train: {title}")
    return {
        "title": title,
        "cpu": expected,
        "device": actual,
        "max_rel_diff": largest,
        "rtol": rtol,
        "passed": passed,
    }


def part_train(target: Target, report: Report, seconds: float, quick: bool) -> dict[str, Any]:
    """Training on the device against the same training on CPU NumPy, loss by loss."""
    deadline = time.monotonic() + seconds
    steps = 5 if quick else 20
    rows = 256 if quick else 2000
    runs: list[tuple[str, Callable[[], list[float]], Callable[[], list[float]], float]] = []
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        runs.append(
            (
                f"tutorial network 784-50-1, SGD, {rows} rows, {dtype.name}, {steps} steps",
                lambda dtype=dtype: tutorial_losses("cpu", dtype, steps, rows),
                lambda dtype=dtype: tutorial_losses(target.device, dtype, steps, rows),
                LOSS_RTOL[dtype],
            )
        )
    runs.append(
        (
            f"nn.Sequential 784-256-256-10, Adam, batch 128, float32, {steps} steps",
            lambda: mlp_losses("cpu", np.dtype(np.float32), steps),
            lambda: mlp_losses(target.device, np.dtype(np.float32), steps),
            LOSS_RTOL[np.dtype(np.float32)],
        )
    )
    for workload in ("W2",) if quick else ("W2", "W4"):
        runs.append(
            (
                f"compile xla on JAX's {_jax_backend()} vs the NumPy replay, {workload} SGD, "
                f"float32, {steps} steps",
                lambda workload=workload: compiled_losses("numpy", workload, steps),
                lambda workload=workload: compiled_losses("xla", workload, steps),
                LOSS_RTOL[np.dtype(np.float32)],
            )
        )
    results = []
    for index, (title, on_cpu, on_device, rtol) in enumerate(runs):
        if time.monotonic() > deadline:
            report.line(f"  TIME BOX: {len(runs) - index} trainings not run")
            break
        try:
            expected, actual = on_cpu(), on_device()
        except Exception as error:
            report.line(f"  FAIL  {title}: {_error(error)}")
            report.fail(f"train: {title}")
            results.append({"title": title, "passed": False, "error": _error(error)})
            continue
        results.append(compare_losses(report, title, expected, actual, rtol))
    return {"runs": results}


def _jax_backend() -> str:
    try:
        import jax

        return str(jax.default_backend())
    except Exception:
        return "(JAX missing)"


# --------------------------------------------------------------------- speed
def torch_step(problem: Any, device: str) -> Callable[[], Any]:
    """PyTorch eager on `device` (no torch.compile): nn.Linear/ReLU layers, the workload's
    loss and optim.SGD, from the workload's parameters (benchmarks/impl_torch.py, placed)."""
    import torch

    weights, biases = problem.fresh_params()
    layers: list[torch.nn.Module] = []
    for w, b in zip(weights, biases, strict=True):
        linear = torch.nn.Linear(w.shape[0], w.shape[1], device=device)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=problem.lr)
    x = torch.from_numpy(problem.x).to(device)
    targets = torch.from_numpy(problem.targets).to(device)
    loss_fn = (
        torch.nn.functional.mse_loss
        if problem.workload.loss == "mse"
        else torch.nn.functional.cross_entropy
    )

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


def eager_step(problem: Any, device: Any) -> Callable[[], Any]:
    """chainrule nn + optim (benchmarks/impl_nn_optim.py's step) with the model, the inputs
    and the targets moved to `device` once."""
    import chainrule as cr
    from chainrule.placement import move
    from impl_nn_optim import build

    model, loss_fn, optimizer, x, targets = build(problem)
    model.to(device)
    x = x.to(device)
    # Class indices stay integers, on the device (a Tensor would make them floats).
    targets = targets.to(device) if isinstance(targets, cr.Tensor) else move(targets, device)

    def step() -> Any:
        optimizer.zero_grad()
        loss = loss_fn(model(x), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


def speed_steps(target: Target, problem: Any) -> dict[str, tuple[str, Callable[[], Any]]]:
    """The implementations timed: label and step factory (called lazily, so one that cannot be
    built is reported and the others still run)."""
    from implementations import BY_KEY, load

    where = "CUDA" if target.name == "cuda" else "CPU"
    return {
        "torch": (
            f"PyTorch eager {where} (reference)",
            lambda: torch_step(problem, target.torch_device),
        ),
        "eager": (
            f"chainrule eager on {target.library}",
            lambda: eager_step(problem, target.device),
        ),
        "xla": (
            f"chainrule compile xla, JAX {_jax_backend()}",
            lambda: load(BY_KEY["xla"])(problem),
        ),
        "jax": (f"JAX jit {_jax_backend()}", lambda: load(BY_KEY["jax"])(problem)),
    }


def part_speed(target: Target, report: Report, seconds: float, quick: bool) -> dict[str, Any]:
    """W1-W4 timed per step (each step synchronised), medians of interleaved rounds, ratios to
    PyTorch eager on the same device."""
    from run import guard_losses, loss_check, time_interleaved
    from workloads import WORKLOADS, make_problem

    deadline = time.monotonic() + seconds
    rounds, block = (3, 0.01) if quick else (11, 0.2)
    results: dict[str, Any] = {}
    keys = list(QUICK_WORKLOADS if quick else WORKLOADS)
    for position, key in enumerate(keys):
        left = deadline - time.monotonic()
        if left <= 0:
            report.line(f"  TIME BOX: {', '.join(keys[position:])} not run")
            break
        workload_deadline = time.monotonic() + left / (len(keys) - position)
        problem = make_problem(WORKLOADS[key], quick=quick)
        report.line(f"  {key}: {WORKLOADS[key].title}" + (" (quick size)" if quick else ""))
        entries: dict[str, dict[str, Any]] = {}
        steps: dict[str, Callable[[], Any]] = {}
        reference: list[float] | None = None
        for name, (label, factory) in speed_steps(target, problem).items():
            entry: dict[str, Any] = {"label": label}
            entries[name] = entry
            if time.monotonic() > workload_deadline:
                entry["status"] = "not run: time box"
                continue
            try:
                raw = factory()

                def step(raw: Callable[[], Any] = raw) -> Any:
                    loss = raw()
                    target.synchronize()
                    return loss

                losses = guard_losses(step)
                assert losses is not None
                check = "ok" if reference is None else loss_check(losses, reference)
                reference = losses if reference is None else reference
                entry["losses"] = losses
            except Exception as error:
                entry["status"] = f"error: {_error(error)}"
                continue
            entry["status"] = check
            if check != "ok":
                report.fail(f"speed {key}: {label} losses")
                continue
            step()  # one more warm-up step
            steps[name] = step
        if "torch" in steps and time.monotonic() < workload_deadline:
            start = time.perf_counter()
            steps["torch"]()
            once = time.perf_counter() - start
            per_round = max(1, min(50, round(block / max(once, 1e-6))))
            left = workload_deadline - time.monotonic()
            spend = once * per_round * len(steps) * 1.5  # a round, with the others' times
            fitted = max(1, min(rounds, int(left / max(spend, 1e-6))))
            samples = time_interleaved(steps, fitted, per_round)
            for name, times in samples.items():
                entries[name].update(
                    median_ms=float(np.median(times) * 1e3),
                    steps=len(times),
                    rounds=fitted,
                )
        torch_ms = entries["torch"].get("median_ms")
        for entry in entries.values():
            median = entry.get("median_ms")
            if median is not None and torch_ms:
                entry["ratio_to_torch"] = median / torch_ms
                report.line(
                    f"    {entry['label']:<40} {median:10.3f} ms/step  "
                    f"x{entry['ratio_to_torch']:.2f}  ({entry['steps']} steps)"
                )
            else:
                report.line(f"    {entry['label']:<40} {entry.get('status', 'not timed')}")
        eager_ratio = entries["eager"].get("ratio_to_torch")
        if key in TARGET_WORKLOADS and eager_ratio is not None:
            goal = f"issue 16's target (eager within {TARGET_RATIO - 1:.0%} of PyTorch eager CUDA)"
            if target.dry_run:
                report.line(f"    {goal}: not judged on a CPU dry run")
            else:
                met = eager_ratio <= TARGET_RATIO
                verdict = "met" if met else "NOT met"
                report.line(f"    {goal}: {verdict} (x{eager_ratio:.2f})")
                entries["eager"]["target_met"] = met
        report.line(f"    load average after {key}: {_load_average()}")
        results[key] = entries
    return {"workloads": results, "clock": "wall, each step synchronised"}


# --------------------------------------------------------------------- main
def recap(parts: dict[str, dict[str, Any]], dry_run: bool) -> list[str]:
    """A few lines per part for the end of the output (the part of it a caller sees first):
    the op table's counts, each training's verdict, the timing table's ratios."""
    lines = []
    ops = parts.get("ops", {})
    if "counts" in ops:
        counts = ops["counts"]
        lines.append(
            f"ops: {counts['pass']} pass, {counts['fail']} fail, {counts['not run']} not run"
        )
    for run in parts.get("train", {}).get("runs", []):
        lines.append(f"train: {'PASS' if run['passed'] else 'FAIL'}  {run['title']}")
    for key, entries in parts.get("speed", {}).get("workloads", {}).items():
        ratios = "  ".join(
            f"{name} {entry['median_ms']:.3f} ms x{entry['ratio_to_torch']:.2f}"
            if "ratio_to_torch" in entry
            else f"{name} {entry.get('status', 'not timed')}"
            for name, entry in entries.items()
        )
        where = " (CPU dry run: CPU times, not GPU figures)" if dry_run else ""
        lines.append(f"speed {key}{where}: {ratios}")
    for part, result in parts.items():
        if "stopped" in result or "error" in result:
            lines.append(f"{part}: {result.get('stopped') or result.get('error')}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cuda: CuPy, PyTorch CUDA, JAX GPU; cpu: the dry run",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results",
        help="folder for gpu-check-<device>.txt and .json",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one variant per op, few steps, small workloads (seconds)",
    )
    parser.add_argument(
        "--budget", type=float, default=360.0, help="total seconds for all parts (default 360)"
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument(
        "--cases", default="", help="only these op-table cases (comma-separated names)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        parser.error(
            f"--parts: unknown {', '.join(sorted(unknown))}; choose from {','.join(PARTS)}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda":
        found = cuda_target()
        if isinstance(found, str):
            print(f"gpu_check --device cuda: {found}", file=sys.stderr)
            return 2
        target, thread_limit = found, None
    else:
        target = cpu_target()
        thread_limit = limit_threads()
    full_float32_products()
    parts = [part for part in PARTS if part in args.parts.split(",")]
    stem = "gpu-check-cuda" if target.name == "cuda" else "gpu-check-dry-run-cpu"
    report = Report(args.out, stem)
    clock = Clock(args.budget, parts)
    if target.dry_run:
        report.line(
            "CPU DRY RUN, NOT GPU FIGURES: the device library is array_api_strict on the "
            "CPU and the reference PyTorch on the CPU; every code path of the GPU check "
            "runs, and every time below is a CPU time."
        )
    else:
        report.line("GPU CHECK: chainrule on CuPy, PyTorch on CUDA, JAX on its GPU.")
    report.line(
        f"started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, budget "
        f"{args.budget:.0f} s, quick={args.quick}, parts {','.join(parts)}"
    )
    report.data.update(
        device=target.name, dry_run=target.dry_run, quick=args.quick, budget_s=args.budget
    )
    names = set(args.cases.split(",")) if args.cases else None
    runners: dict[str, Callable[[float], dict[str, Any]]] = {
        "env": lambda s: part_env(target, report, s),
        "ops": lambda s: part_ops(target, report, s, args.quick, names),
        "train": lambda s: part_train(target, report, s, args.quick),
        "speed": lambda s: part_speed(target, report, s, args.quick),
    }
    for part in parts:
        seconds = clock.box(part)
        report.line()
        report.line(f"== {part} (time box {seconds:.0f} s)")
        start = time.monotonic()
        try:
            with alarm(seconds):
                result = runners[part](seconds)
        except TimeBox:
            result = {"stopped": "time box"}
            report.line(f"  TIME BOX: {part} stopped after {time.monotonic() - start:.0f} s")
        except Exception as error:
            result = {"error": _error(error)}
            report.line(f"  ERROR: {part} did not run to its end: {_error(error)}")
            report.fail(f"{part}: {_error(error)}")
        result["seconds"] = round(time.monotonic() - start, 1)
        report.data["parts"][part] = result
        report.save()
    report.line()
    report.line("== recap")
    for line in recap(report.data["parts"], target.dry_run):
        report.line(f"  {line}")
    verdict = (
        "every check passed"
        if not report.failures
        else (f"{len(report.failures)} FAILED: {'; '.join(report.failures[:20])}")
    )
    report.line(f"== summary: {verdict}")
    report.close()
    del thread_limit
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
