"""`chainrule train`: train a classifier and write a run folder.

With no arguments: the tutorial network (64-50-10, ReLU, softmax cross-entropy) on the
bundled 8x8 digits. Each epoch prints one line and saves metrics.jsonl and a checkpoint
(checkpoint.npz + checkpoint.json, also saved before the first batch) to the run folder;
loss.png is drawn at the end (and gradients.png with --diagnostics). Ctrl-C saves the last
completed epoch and exits with status 130; --resume continues bit for bit, on the same data
(--compile xla: to rounding, as it says when resuming).
One training at a time writes a run folder (train.lock), and none overwrites another run.
Under `mpiexec -n N` the N ranks train one run data-parallel (--batch-size is the global
batch); rank 0 alone prints and writes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
import traceback
from dataclasses import fields, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from chainrule.cli._common import describe_os_error, missing_extras, nonnegative_int, probe_writable
from chainrule.placement import CUDA_INSTALL, cuda_problem
from chainrule.train.config import (
    CNN_DEFAULT_LR,
    CNN_DEFAULTS,
    DEFAULT_LR,
    DEVICES,
    DTYPES,
    ENGINES,
    MODELS,
    NAMED_DATA,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    parse_hidden,
)

INTERRUPTED = 130
"""The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it."""

CONFIG_OPTIONS = tuple(field.name for field in fields(TrainConfig))


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a classifier (default: the tutorial network on the digits)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = TrainConfig()
    add = parser.add_argument
    add(
        "--model",
        choices=MODELS,
        help="seed: the tutorial network, one hidden layer of 50; mlp: --hidden layers; "
        "cnn: two conv/ReLU/max-pool stages and a hidden layer of 128, for 28x28 or 8x8 "
        "images, by default for "
        + " ".join(f"{name} {value}" for name, value in CNN_DEFAULTS.items())
        + f", its own --lr (default {defaults.model})",
    )
    add(
        "--hidden",
        type=_hidden_sizes,
        metavar="SIZES",
        help="hidden layer sizes of --model mlp, comma-separated (default "
        f"{','.join(map(str, defaults.hidden))})",
    )
    add(
        "--data",
        metavar="NAME|DIR",
        help=f"{' | '.join(NAMED_DATA)} | a folder of MNIST-format IDX files "
        f"(default {defaults.data})",
    )
    add("--epochs", type=int, help=f"total epochs to reach (default {defaults.epochs})")
    add("--batch-size", type=int, help=f"samples per batch (default {defaults.batch_size})")
    add(
        "--lr",
        type=float,
        help=f"learning rate (default: {_learning_rates(DEFAULT_LR)}; with --model cnn "
        f"{_learning_rates(CNN_DEFAULT_LR)})",
    )
    add("--optimizer", choices=OPTIMIZERS, help=f"(default {defaults.optimizer})")
    add("--momentum", type=float, help=f"for --optimizer momentum (default {defaults.momentum})")
    add(
        "--weight-decay",
        type=float,
        help="L2 penalty (decoupled for adamw; default: the optimizer's, 0 or 0.01 for adamw)",
    )
    add(
        "--schedule",
        choices=SCHEDULES,
        help=f"learning-rate schedule over the epochs (default {defaults.schedule})",
    )
    add(
        "--dropout",
        type=float,
        help="dropout after each hidden ReLU (the CNN: after its dense one) (default 0)",
    )
    add(
        "--engine",
        choices=ENGINES,
        help="autograd: the Tensor engine; manual: the hand-derived layers (default "
        f"{defaults.engine})",
    )
    add("--dtype", choices=DTYPES, help=f"(default {defaults.dtype})")
    add(
        "--seed",
        type=nonnegative_int("--seed"),
        help=f"seed of the weights, shuffling and dropout (default {defaults.seed})",
    )
    add(
        "--device",
        choices=DEVICES,
        help="cpu: NumPy arrays; cuda: CuPy arrays on an NVIDIA GPU (needs "
        f"{CUDA_INSTALL}) (default {defaults.device})",
    )
    add(
        "--compile",
        nargs="?",
        const="numpy",
        choices=("numpy", "xla"),
        metavar="BACKEND",
        help="trace the training step per batch shape with chainrule.compile (twice: the second "
        "trace checks the first) and replay it with NumPy (the default) or, with "
        "`--compile xla`, as one jitted JAX function (needs the [xla] extra)",
    )
    add(
        "--diagnostics",
        action="store_const",
        const=True,
        help="record per-layer gradient norms (mean over each epoch's batches) and "
        "dead-ReLU fractions (on the validation set) in metrics.jsonl and plot them "
        "to gradients.png",
    )
    add(
        "--out",
        type=Path,
        metavar="DIR",
        help="run folder (default runs/<date-time>, or the resumed run's folder)",
    )
    add(
        "--resume",
        metavar="CHECKPOINT",
        help="continue the run in this folder (or its checkpoint.json / checkpoint.npz) "
        "up to --epochs, with its saved settings",
    )
    add(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is also hidden when stderr is not a terminal)",
    )
    parser.set_defaults(run=run)


def _learning_rates(rates: dict[str, float]) -> str:
    """{"sgd": 0.1, "adam": 0.003, "adamw": 0.003} -> "0.1 sgd, 0.003 adam/adamw"."""
    names: dict[float, list[str]] = {}
    for name, rate in rates.items():
        names.setdefault(rate, []).append(name)
    return ", ".join(f"{rate:g} {'/'.join(optimizers)}" for rate, optimizers in names.items())


def _hidden_sizes(text: str) -> tuple[int, ...]:
    """`parse_hidden` for argparse, which shows an ArgumentTypeError's message (and hides a
    ValueError's behind "invalid parse_hidden value")."""
    try:
        return parse_hidden(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("train: ")) from None


def _given(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        name: getattr(args, name)
        for name in CONFIG_OPTIONS
        if getattr(args, name, None) is not None
    }
    if "compile" in given:  # --compile [BACKEND]: compile on, with that backend
        given["compile_backend"] = given["compile"]
        given["compile"] = True
    return given


def _default_folder() -> Path:
    from chainrule.train.run_folder import create_run_folder

    return create_run_folder(Path("runs"), time.strftime("%Y%m%d-%H%M%S"))


def _refuse_unused(given: dict[str, Any], config: TrainConfig) -> None:
    """An option the chosen model or optimizer would silently ignore is an error."""
    if "hidden" in given and config.model != "mlp":
        raise ValueError(
            f"train: --hidden sets the layers of --model mlp, but the model is "
            f"{config.model} (one hidden layer of 50); add --model mlp"
        )
    if "momentum" in given and config.optimizer != "momentum":
        raise ValueError(
            f"train: --momentum is used by --optimizer momentum, but the "
            f"optimizer is {config.optimizer}; add --optimizer momentum"
        )


FEATURES = {"digits": 64, "mnist": 784, "fashion-mnist": 784}
"""Inputs per sample of the named data sets (a folder's are known only once loaded)."""
MEMORY_COPIES = 4
"""Copies of the parameters a run holds: the weights, their gradients, Adam's two moments."""


def _memory_estimate(config: TrainConfig) -> int:
    """Bytes for the parameters (times MEMORY_COPIES) and one batch's activations and their
    gradients, from the layer sizes; a folder's data counts as 1 input (a lower bound)."""
    sizes = [FEATURES.get(config.data, 1), *config.hidden_sizes, 10]
    parameters = sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    activations = 3 * config.batch_size * sum(sizes[1:])
    itemsize = 4 if config.dtype == "float32" else 8
    return (MEMORY_COPIES * parameters + activations) * itemsize


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _refuse_too_large(config: TrainConfig) -> None:
    """A model that cannot fit in this machine's memory is refused before any allocation."""
    needed, available = _memory_estimate(config), _physical_memory()
    if available is not None and needed > available:
        hidden = ",".join(map(str, config.hidden_sizes))
        raise ValueError(
            f"train: --hidden {hidden} (batch {config.batch_size}, {config.dtype}) needs about "
            f"{needed / 2**30:.3g} GiB for the weights, gradients, optimizer state and one "
            f"batch's activations, more than this machine's {available / 2**30:.3g} GiB of "
            f"memory; choose smaller layers or batches"
        )


def _needed_extras(config: TrainConfig, progress: bool) -> list[str]:
    """The optional packages this run imports: matplotlib for loss.png, scikit-learn for the
    digits, tqdm for the progress bar (shown only on a terminal)."""
    needed = ["matplotlib"]
    if config.data == "digits":
        needed.append("sklearn")
    if progress and sys.stderr.isatty():
        needed.append("tqdm")
    return needed


XLA_INSTALL = "pip install 'chainrule[xla]'"


def _refuse_missing_jax(config: TrainConfig) -> None:
    """--compile xla without JAX is refused before any work (it failed with a traceback when
    the first step was compiled)."""
    if config.compile and config.compile_backend == "xla" and find_spec("jax") is None:
        raise ValueError(
            f"--compile xla needs JAX, which is not installed; install it with {XLA_INSTALL}, "
            "or use --compile (the NumPy replay)"
        )


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the default run folder (and runs/) made for a run that was refused, unless
    something was written into it: a refused run leaves the working folder as it found it."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _probe_run_folder(folder: Path) -> None:
    """Fail now, not after the last epoch, when the run folder or one of its files cannot be
    written; the folders made only for the probe (--out and its missing parents) are
    removed again."""
    from chainrule.train.checkpoint import ARRAYS_FILE, META_FILE
    from chainrule.train.metrics import METRICS_FILE
    from chainrule.train.run_folder import GRADIENTS_PLOT, LOSS_PLOT

    made = [path for path in (folder, *folder.parents) if not path.exists()]
    probe_writable(folder, (META_FILE, ARRAYS_FILE, METRICS_FILE, LOSS_PLOT, GRADIENTS_PLOT))
    for directory in made:  # innermost first; the run makes them again once not refused
        with contextlib.suppress(OSError):  # something else was put there meanwhile
            directory.rmdir()


def _used_setting(config: TrainConfig, name: str) -> Any:
    """The value the run used for setting `name`: a saved None --lr or --weight-decay stood
    for the optimizer's default, so giving that default on resume is no change; --hidden of
    a seed run is its one layer of 50; None for a --hidden or --momentum the run does not
    use (a new run refuses them: `_refuse_unused`)."""
    from chainrule.train.loop import used_setting

    return used_setting(config, name)


def _saved_setting(config: TrainConfig, name: str) -> str:
    """The saved value of setting `name`, as the command line would give it."""
    used = _used_setting(config, name)
    if used is None:
        user = f"--model {config.model}" if name == "hidden" else f"--optimizer {config.optimizer}"
        return f"none, {user} does not use it"
    if name in ("compile", "compile_backend"):
        return f"--compile {config.compile_backend}" if config.compile else "not compiled"
    if isinstance(used, bool):
        return "on" if used else "off"
    if isinstance(used, tuple):
        used = ",".join(map(str, used))
    return f"{used}, {config.optimizer}'s default" if getattr(config, name) is None else f"{used}"


def _typed_option(name: str, value: Any) -> str:
    """Setting `name` given as `value`, as it was typed: `--hidden 256,128`, `--diagnostics`,
    `--compile xla` (for both `compile` and `compile_backend`, which --compile sets)."""
    flag = f"--{name.replace('_', '-')}"
    if name == "compile_backend":
        return f"--compile {value}"
    if value is True:
        return flag
    if isinstance(value, tuple):
        return f"{flag} {','.join(map(str, value))}"
    return f"{flag} {value}"


def _plan(args: argparse.Namespace) -> tuple[TrainConfig, Path | None, Any]:
    """The config, run folder (None for a default one, made once the run is not refused)
    and checkpoint to resume (or None)."""
    from chainrule.train import load_checkpoint
    from chainrule.train.datasets import data_source
    from chainrule.train.loop import missing_run_data, resumed_config

    given = _given(args)
    if args.resume is None:
        model_defaults = CNN_DEFAULTS if given.get("model") == "cnn" else {}
        config = TrainConfig(**{**model_defaults, **given})
        if config.model == "cnn" and config.lr is None:
            # Saved explicitly: TrainConfig's None means DEFAULT_LR, the other models' rates.
            config = replace(config, lr=CNN_DEFAULT_LR[config.optimizer])
        _refuse_unused(given, config)
        # The folder is checked for another run while its lock is held (Trainer.fit).
        return config, args.out, None
    checkpoint = load_checkpoint(args.resume)
    config = resumed_config(checkpoint, given.pop("epochs", None))
    differ = [
        name
        for name, value in given.items()
        if _used_setting(config, name) != (data_source(value) if name == "data" else value)
    ]
    if "compile" in differ or "compile_backend" in differ:
        # Both come from one --compile [BACKEND]: named once, as it was typed.
        differ = [name for name in differ if name != "compile"]
        differ += [] if "compile_backend" in differ else ["compile_backend"]
    changed = [
        f"{_typed_option(name, given[name])} (saved: {_saved_setting(config, name)})"
        for name in differ
    ]
    if changed:
        raise ValueError(
            f"train: --resume continues with the run's saved settings; these "
            f"differ: {', '.join(changed)}. Drop them, or start a new run"
        )
    gone = missing_run_data(checkpoint, config)
    if gone is not None:
        raise ValueError(
            f"train: {gone}; put the data back there to resume (a run continues only on "
            f"the data it was trained on), or start a new run"
        )
    return config, args.out if args.out is not None else checkpoint.folder, checkpoint


def _report(error: Exception, *, every_rank: bool = False) -> None:
    """One line on stderr; messages that already name `train:` are not prefixed twice.
    Under mpiexec only rank 0 reports (every rank meets the same error) unless `every_rank`."""
    from chainrule.distributed import world

    if world().rank != 0 and not every_rank:
        return
    message = str(error)
    if message.startswith("train: "):
        message = message[len("train: ") :]
    print(f"chainrule train: {message}", file=sys.stderr)


def _report_own(error: Exception) -> None:
    """`_report` for an error only this rank met: a rank other than 0 reports it too, by name."""
    from chainrule.distributed import world
    from chainrule.distributed.training import named_by_rank

    comm = world()
    if comm.rank == 0:
        _report(error)
        return
    _report(named_by_rank(error, comm), every_rank=True)


def run(args: argparse.Namespace) -> int:
    from chainrule.data.errors import DatasetError
    from chainrule.distributed import CollectiveTimeout, ShardError, world
    from chainrule.distributed.training import (
        end_job,
        quiet_unless_lead,
        start_together,
        stop_job,
    )
    from chainrule.train import CheckpointError, TrainingInterrupted, train
    from chainrule.train.allocator import keep_freed_memory
    from chainrule.train.checkpoint import META_FILE
    from chainrule.train.run_folder import RunFolderError

    keep_freed_memory()
    lead = quiet_unless_lead()
    refused: Exception | None = None
    made: list[Path] = []  # a default run folder (and runs/), removed again if refused
    try:
        config, planned, checkpoint = _plan(args)
        _refuse_too_large(config)
        problem = cuda_problem() if config.device == "cuda" else None
        if problem is not None:
            raise ValueError(f"--device cuda: {problem}")
        missing = missing_extras(_needed_extras(config, not args.no_progress))
        if missing is not None:
            raise ValueError(missing)
        _refuse_missing_jax(config)
        if planned is not None:
            folder = planned
        elif lead:
            # Only the lead rank makes a default folder; the others get a placeholder
            # until it tells them the name.
            made = [Path("runs")] if not Path("runs").exists() else []
            folder = _default_folder()
            made.insert(0, folder)
        else:
            folder = Path("runs")
        if lead:
            _probe_run_folder(folder)
    except (CheckpointError, ValueError) as error:
        refused = error
    except BrokenPipeError:
        raise  # stdout's reader went away: main() ends quietly with 141
    except OSError as error:
        refused = ValueError(describe_os_error(error))
    try:
        if not start_together(refused, lambda error: _report(error, every_rank=True)):
            _remove_if_empty(made)
            return 2
        if world().size > 1:
            # One run folder: rank 0's (a default one is made by rank 0 alone).
            folder = Path(world().allgather_object(str(folder))[0])
    except CollectiveTimeout as error:
        stop_job(error)
    if lead and checkpoint is not None and "data_fingerprint" not in checkpoint.meta:
        print(
            f"chainrule train: note: {checkpoint.folder / META_FILE} has no fingerprint of "
            f"its data (saved by an older chainrule); resuming without checking that the "
            f"data are the run's",
            file=sys.stderr,
        )
    started = time.perf_counter()
    action = "resuming" if checkpoint is not None else "training"
    hidden = "-".join(map(str, config.hidden_sizes))
    if config.model == "cnn":
        from chainrule.train.models import CNN_CHANNELS, CNN_HIDDEN

        hidden = f"conv {'-'.join(map(str, CNN_CHANNELS))}, {CNN_HIDDEN}"
    print(
        f"{action} {config.model} ({hidden} hidden, {config.engine} engine) on "
        f"{config.data} with {config.optimizer} lr {config.learning_rate:g}, batch "
        f"{config.batch_size}, {config.epochs} epochs -> {folder}",
        flush=True,
    )
    try:
        result = train(
            config,
            folder,
            resume=checkpoint,
            progress=not args.no_progress,
            echo=lambda line: print(line, flush=True),
        )
    except CollectiveTimeout as error:
        stop_job(error)
    except TrainingInterrupted as interrupted:
        if not lead:
            return INTERRUPTED
        print(
            f"\ninterrupted: saved the checkpoint of epoch {interrupted.saved_epoch} in "
            f"{interrupted.folder}; continue with: chainrule train --resume "
            f"{interrupted.folder}",
            file=sys.stderr,
        )
        return INTERRUPTED
    except (CheckpointError, DatasetError, RunFolderError, ShardError) as error:
        _report(error)
        _remove_if_empty(made)
        return 2
    except BrokenPipeError:
        raise  # stdout's reader went away: main() ends quietly with 141
    except OSError as error:
        # Rank 0 alone writes, so this error is this rank's own: the others would wait for
        # it in their next collective until its deadline.
        _report_own(ValueError(describe_os_error(error)))
        _remove_if_empty(made)
        end_job(2)
        return 2
    except FloatingPointError as error:
        _report(error)
        return 1
    except Exception:
        # A defect on one rank: show it, and do not leave the others waiting on this one.
        if world().size > 1:
            traceback.print_exc()
            end_job(1)
        raise
    seconds = time.perf_counter() - started
    print(f"test accuracy {result.test_accuracy:.4f}  ({seconds:.1f}s; run folder {result.folder})")
    return 0
