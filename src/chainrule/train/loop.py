"""The training loop: epochs of mini-batches, validation, metrics and checkpoints.

Before the first batch and after every epoch the run folder gets a checkpoint of everything
the next epoch depends on (weights, optimizer and schedule state, the shuffling and dropout
generators), so `resume` continues bit for bit (to rounding with `--compile xla`, whose
resumed process traces its steps again in NumPy: XLA_RESUME_NOTICE), and after every epoch
a metrics.jsonl line. With `diagnostics` the line also carries gradient norms and dead-ReLU
fractions, read without touching the training's state. Ctrl-C saves the last completed epoch
again (whole, even if the interrupt hit mid-save) and raises `TrainingInterrupted`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import manual, optim
from chainrule.data import ArrayDataset, DataLoader
from chainrule.data.errors import DatasetError
from chainrule.distributed import Communicator, DataParallel, DistributedSampler, world
from chainrule.distributed import training as parallel_training
from chainrule.train.blowup import explain_blowup
from chainrule.train.checkpoint import (
    META_FILE,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from chainrule.train.config import NAMED_DATA, TrainConfig
from chainrule.train.datasets import (
    Splits,
    data_difference,
    data_record,
    data_source,
    load_splits,
)
from chainrule.train.diagnostics import (
    GradientNormMean,
    dead_relu_fractions,
    layer_labels,
    plot_diagnostics,
)
from chainrule.train.display import History, history_html, loss_png
from chainrule.train.engines import AutogradEngine, Engine, ManualEngine
from chainrule.train.metrics import accuracy, append_metrics, rewrite_metrics
from chainrule.train.models import build_manual, build_module
from chainrule.train.plots import plot_losses
from chainrule.train.progress import EpochProgress
from chainrule.train.run_folder import (
    GRADIENTS_PLOT,
    LOSS_PLOT,
    RunFolderError,
    check_destination,
    check_unchanged,
    lock_run_folder,
)

ADAMW_DECAY = 0.01
"""AdamW's default decoupled weight decay (PyTorch's)."""
HANG_ENV = "CHAINRULE_TRAIN_HANG_AFTER_BATCHES"
"""Test hook: after this many batches the process writes HANG_MARKER in the run folder and
sleeps, so a test can kill or interrupt it at a known point mid-epoch. Under mpiexec, rank
r > 0 writes HANG_MARKER.r instead; each marker holds its process id."""
HANG_MARKER = "hanging"
XLA_RESUME_NOTICE = (
    "resuming a --compile xla run: the same batches and settings, but not bit for bit: "
    "this process traces the step again, running its first two steps of each batch shape "
    "eagerly in NumPy where the uninterrupted run replayed them in XLA, which rounds "
    "otherwise, so the weights differ from that run's in the last bits (eager and "
    "--compile numpy runs resume exactly)"
)
"""Why a resumed `--compile xla` run differs from the uninterrupted one in rounding only."""


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the checkpoint of `saved_epoch` is in `folder`."""

    def __init__(self, folder: Path, saved_epoch: int) -> None:
        super().__init__(f"interrupted; epoch {saved_epoch} saved in {folder}")
        self.folder = folder
        self.saved_epoch = saved_epoch


@dataclass(frozen=True)
class RunResult:
    """The run folder, one metrics record per epoch, and the final test accuracy."""

    folder: Path
    history: list[dict[str, Any]]
    test_accuracy: float

    def _repr_png_(self) -> bytes | None:
        """Jupyter: the loss curve (None without Matplotlib: `_repr_html_` shows a table)."""
        return loss_png(self.history)

    def _repr_html_(self) -> str | None:
        """Jupyter: the history table, shown when no loss curve can be drawn."""
        if loss_png(self.history) is not None:
            return None
        return (
            f"<p>{escape(str(self.folder))}: test accuracy {self.test_accuracy:.4f}</p>"
            + history_html(self.history)
        )


def build_engine(
    config: TrainConfig,
    splits: Splits,
    *,
    init_rng: np.random.Generator,
    dropout_rng: np.random.Generator,
) -> Engine:
    """The chosen engine, initialised from `init_rng` the same way for both engines."""
    module = build_module(
        config,
        splits.num_features,
        splits.num_classes,
        init_rng=init_rng,
        dropout_rng=dropout_rng,
        image_shape=splits.image_shape,
    )
    if config.engine == "manual":
        model = build_manual(config, splits.num_features, splits.num_classes)
        return ManualEngine(model, module.state_dict())
    return AutogradEngine(
        module, compile=config.compile, backend=config.compile_backend, device=config.device
    )


def build_optimizer(config: TrainConfig, params: list[Any]) -> optim.Optimizer:
    """SGD, SGD with momentum, Adam or AdamW with the config's learning rate."""
    lr, decay = config.learning_rate, config.weight_decay
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=decay or 0.0)
    if config.optimizer == "momentum":
        return optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=decay or 0.0)
    if config.optimizer == "adam":
        return optim.Adam(params, lr=lr, weight_decay=decay or 0.0)
    return optim.AdamW(params, lr=lr, weight_decay=ADAMW_DECAY if decay is None else decay)


def mean_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    return manual.SoftmaxCrossEntropy().forward(logits, labels)


class _Hang:
    """The HANG_ENV test hook (inactive unless the variable is set)."""

    def __init__(self, folder: Path, rank: int = 0) -> None:
        value = os.environ.get(HANG_ENV)
        self.remaining = int(value) if value else -1
        self.marker = folder / (HANG_MARKER if rank == 0 else f"{HANG_MARKER}.{rank}")

    def tick(self) -> None:
        if self.remaining < 0:
            return
        self.remaining -= 1
        if self.remaining == 0:
            self.marker.write_text(str(os.getpid()))
            while True:
                time.sleep(0.05)


def check_splits_dtype(splits: Splits, dtype: str) -> None:
    """ValueError when the data given to a Trainer are not in the run's dtype: float64
    inputs to float32 weights would compute in float64, a run other than the config says."""
    found = {
        name: str(getattr(splits, name).dtype)
        for name in ("x_train", "x_val", "x_test")
        if getattr(splits, name).dtype != np.dtype(dtype)
    }
    if found:
        described = ", ".join(f"{name} {kind}" for name, kind in found.items())
        raise ValueError(
            f"Trainer: the config's dtype is {dtype}, but the splits given hold {described}; "
            f"load them with load_splits(..., dtype={dtype!r}), or set the config's dtype"
        )


class Trainer:
    """One run: the data, engine, optimizer, schedule and loader, and where they stand.

    On more than one rank (`comm`, default `distributed.world()`), see
    `chainrule.distributed.training`: rank 0 alone writes, the gradients are averaged."""

    def __init__(
        self,
        config: TrainConfig,
        folder: str | os.PathLike[str],
        *,
        splits: Splits | None = None,
        comm: Communicator | None = None,
    ) -> None:
        # A folder is recorded by its absolute path, so that a resume or an evaluation
        # started in another working directory reads the same folder.
        self.config = replace(config, data=data_source(config.data))
        self.comm = world() if comm is None else comm
        self.lead = self.comm.rank == 0
        self.notice: str | None = None
        self.folder = Path(folder)
        if splits is not None:
            check_splits_dtype(splits, config.dtype)
        self.splits = (
            splits
            if splits is not None
            else load_splits(config.data, val_fraction=config.val_fraction, dtype=config.dtype)
        )
        init_seed, shuffle_seed, dropout_seed = np.random.SeedSequence(config.seed).spawn(3)
        self.engine = build_engine(
            config,
            self.splits,
            init_rng=np.random.default_rng(init_seed),
            dropout_rng=np.random.default_rng(parallel_training.rank_seed(dropout_seed, self.comm)),
        )
        self.optimizer = build_optimizer(config, self.engine.parameters())
        self.parallel = (
            DataParallel(self.engine.parameters(), self.optimizer, self.comm)
            if self.comm.size > 1
            else None
        )
        self.scheduler = (
            optim.CosineAnnealingLR(self.optimizer, T_max=config.epochs)
            if config.schedule == "cosine"
            else None
        )
        self.loader: DataLoader | DistributedSampler = (
            DataLoader(
                ArrayDataset(self.splits.x_train, self.splits.y_train),
                batch_size=config.batch_size,
                shuffle=True,
                rng=np.random.default_rng(shuffle_seed),
            )
            if self.comm.size == 1
            else parallel_training.sharded_loader(
                self.splits.x_train,
                self.splits.y_train,
                config.batch_size,
                self.comm,
                np.random.default_rng(shuffle_seed),
            )
        )
        self.data_fingerprint = data_record(self.splits, config.data)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.resumed_from: Path | None = None
        self.resumed_identity: tuple[Any, Any] | None = None

    # ----------------------------------------------------------------- state
    def snapshot(self) -> dict[str, Any]:
        """Everything the next epoch depends on, as JSON data and arrays (called on every
        rank together: it gathers the ranks' dropout generators)."""
        dropout_states = [rng.bit_generator.state for rng in self.engine.generators()]
        snapshot = {
            "epoch": self.epoch,
            "config": self.config.to_json(),
            "model": self.engine.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "loader": self.loader.state_dict(),
            "dropout_rngs": dropout_states,
            "history": [dict(record) for record in self.history],
            "class_names": list(self.splits.class_names),
            "data_fingerprint": dict(self.data_fingerprint),
            "ranks": self.comm.size,
        }
        if self.comm.size > 1:
            snapshot["dropout_rngs_by_rank"] = parallel_training.gathered_generator_states(
                dropout_states, self.comm
            )
        return snapshot

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from `checkpoint` (made by a run of the same config, on the same data:
        a checkpoint recording another data fingerprint is refused; one recording none, from
        an older chainrule, is not checked). On several ranks every rank calls it, and all
        raise the CheckpointError when one rank refuses its checkpoint (the others would
        wait for it in their first collective until its deadline)."""
        refused: CheckpointError | None = None
        try:
            self._restore(checkpoint)
        except CheckpointError as error:
            refused = error
        if self.comm.size > 1:
            messages = self.comm.allgather_object(None if refused is None else str(refused))
            failed = [(rank, text) for rank, text in enumerate(messages) if text is not None]
            if failed and refused is None:
                rank, text = failed[0]
                raise CheckpointError(
                    f"train: rank {rank} of {self.comm.size} cannot resume: "
                    + text.removeprefix("train: ")
                )
        if refused is not None:
            raise refused

    def _restore(self, checkpoint: Checkpoint) -> None:
        meta = checkpoint.meta
        self._check_same_settings(checkpoint)
        difference = data_difference(
            meta.get("data_fingerprint"),
            self.data_fingerprint,
            run=str(checkpoint.folder / META_FILE),
        )
        if difference is not None:
            raise CheckpointError(
                f"train: {difference}; resume with the data the run was trained on, or start "
                f"a new run"
            )
        try:
            self.notice = parallel_training.resume_notice(
                int(meta.get("ranks", 1)), self.comm, bool(self.engine.generators())
            )
        except ValueError as error:
            raise CheckpointError(str(error)) from None
        if (
            self.config.compile
            and self.config.compile_backend == "xla"
            and int(meta.get("epoch", 0)) > 0
        ):
            # From epoch 0 the resumed process traces where the uninterrupted run did.
            self.notice = " ".join(filter(None, [self.notice, XLA_RESUME_NOTICE]))
        try:
            self.engine.load_state_dict(meta["model"])
            self.optimizer.load_state_dict(meta["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(meta["scheduler"])
            self.loader.load_state_dict(meta["loader"])
            generators = self.engine.generators()
            by_rank = meta.get("dropout_rngs_by_rank")
            # On another rank count the model has no dropout (resume_notice refused it), and
            # a rank past the saved ones has no list of its own: take rank 0's (empty).
            saved_states = (
                by_rank[self.comm.rank]
                if by_rank is not None and len(by_rank) == self.comm.size
                else meta["dropout_rngs"]
            )
            if len(generators) != len(saved_states):
                raise ValueError(
                    f"{len(saved_states)} dropout generators saved, {len(generators)} in the model"
                )
            for rng, state in zip(generators, saved_states, strict=True):
                rng.bit_generator.state = state
            self.epoch = int(meta["epoch"])
            self.history = [dict(record) for record in meta["history"]]
            self.resumed_from = checkpoint.folder
            self.resumed_identity = checkpoint.identity
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(
                f"{checkpoint.folder / META_FILE} does not fit the run it describes "
                f"({type(error).__name__}: {error}); it is corrupt or from another version"
            ) from None

    def _check_same_settings(self, checkpoint: Checkpoint) -> None:
        """CheckpointError when this trainer's config is not the checkpoint's: the restored
        optimizer and schedule would keep the saved settings while the next checkpoint
        recorded these. Only `epochs` may grow (not under a cosine schedule), and the
        REPLAY_SETTINGS may differ."""
        try:
            saved = resumed_config(checkpoint, self.config.epochs)
        except CheckpointError:
            raise
        except ValueError as error:
            raise CheckpointError(str(error)) from None
        differ = [
            f"{name} {used_setting(self.config, name)!r} (saved: {used_setting(saved, name)!r})"
            for name in (field.name for field in fields(TrainConfig))
            if name not in REPLAY_SETTINGS
            and used_setting(self.config, name) != used_setting(saved, name)
        ]
        if differ:
            raise CheckpointError(
                f"train: {checkpoint.folder / META_FILE} was trained with other settings "
                f"than this trainer's: {', '.join(differ)}; resume with the saved config "
                f"(resumed_config(checkpoint, epochs)), or start a new run"
            )

    def load_weights(self, checkpoint: Checkpoint) -> None:
        """Only the weights of `checkpoint` (to evaluate it), checked against the model."""
        try:
            self.engine.load_state_dict(checkpoint.meta["model"])
        except (KeyError, ValueError) as error:
            raise CheckpointError(
                f"{checkpoint.folder / META_FILE} does not fit the run it describes ({error})"
            ) from None

    # ----------------------------------------------------------------- epochs
    def run_epoch(self, *, progress: bool, hang: _Hang) -> dict[str, Any]:
        epoch = self.epoch + 1
        lr = float(self.optimizer.param_groups[0]["lr"])
        bar = EpochProgress(
            epoch, self.config.epochs, len(self.loader), enabled=progress and self.lead
        )
        started = time.perf_counter()
        loss_sum, samples = 0.0, 0
        grad_norms = GradientNormMean() if self.config.diagnostics else None
        try:
            for batch, (x, y) in enumerate(self.loader, 1):
                if self.parallel is not None:
                    self.parallel.samples = len(x)
                loss = self.engine.train_step(x, y, self.optimizer)
                if self.parallel is not None and not (math.isfinite(loss) and self.parallel.finite):
                    raise FloatingPointError(
                        parallel_training.blowup_message(loss, epoch, batch, lr)
                    )
                if not math.isfinite(loss):
                    raise FloatingPointError(explain_blowup(self, epoch, batch, loss))
                if grad_norms is not None:
                    grad_norms.add(self.engine.network())
                loss_sum += loss * len(x)
                samples += len(x)
                bar.update(len(x), loss)
                hang.tick()
        finally:
            bar.close()
        train_seconds = time.perf_counter() - started
        train_loss = loss_sum / samples
        if self.comm.size > 1:
            train_loss, samples = parallel_training.reduced_mean_loss(loss_sum, samples, self.comm)
            val_loss, val_accuracy = parallel_training.reduced_validation(
                self.engine.logits, self.splits.x_val, self.splits.y_val, self.comm
            )
            if not math.isfinite(val_loss):
                raise FloatingPointError(
                    parallel_training.validation_blowup_message(val_loss, epoch, lr)
                )
        else:
            val_logits = self.engine.logits(self.splits.x_val)
            if not np.isfinite(val_logits).all():
                # Every batch's loss was finite, so the epoch's last step is to blame.
                raise FloatingPointError(
                    explain_blowup(self, epoch, len(self.loader), float("nan"), validation=True)
                )
            val_loss = mean_cross_entropy(val_logits, self.splits.y_val)
            val_accuracy = accuracy(val_logits, self.splits.y_val)
        if self.scheduler is not None:
            self.scheduler.step()
        self.epoch = epoch
        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - started,
            "samples_per_s": samples / max(train_seconds, 1e-9),
            "lr": lr,
        }
        if grad_norms is not None:
            record["grad_norm"] = grad_norms.mean()
            record["dead_relu"] = dead_relu_fractions(self.engine.network(), self.splits.x_val)
        return record

    def plot(self, history: list[dict[str, Any]]) -> None:
        """loss.png, and gradients.png for a run with diagnostics, from `history`."""
        plot_losses(history, self.folder / LOSS_PLOT)
        if self.config.diagnostics:
            plot_diagnostics(
                history,
                self.folder / GRADIENTS_PLOT,
                labels=layer_labels(self.engine.network()),
                norm_title="gradient norm per layer (mean over the epoch's batches)",
                dead_title="dead ReLU units (input ≤ 0 on every validation example)",
            )

    def fit(self, *, progress: bool = True, echo: Callable[[str], None] = print) -> None:
        """Train up to `config.epochs`, checkpointing after every epoch, holding the run
        folder's lock; RunFolderError if another process writes the folder or it holds
        another run (one this trainer was not restored from). Of several ranks, rank 0 alone
        takes the lock and writes; the others stop with it when it cannot."""
        with ExitStack() as lock:
            refused: RunFolderError | None = None
            if self.lead:
                try:
                    lock.enter_context(lock_run_folder(self.folder))
                    check_destination(self.folder, resumed_from=self.resumed_from)
                    check_unchanged(self.folder, self.resumed_from, self.resumed_identity)
                except RunFolderError as error:
                    refused = error
            if not parallel_training.all_ranks_ready(refused is None, self.comm):
                raise refused or RunFolderError(f"train: rank 0 could not write {self.folder}")
            if self.comm.size > 1:
                self._refuse_diverging_ranks()
            self._fit(progress=progress, echo=echo)

    def _refuse_diverging_ranks(self) -> None:
        """DatasetError or CheckpointError on every rank when a rank read other data, or
        resumed another checkpoint, than rank 0: its shards would index other samples and
        its weights would start elsewhere, silently (each rank reads its own copies)."""
        differ = parallel_training.differing_ranks(
            (self.data_fingerprint["sha256"], self.resumed_identity), self.comm
        )
        if not differ:
            return
        data_differ = parallel_training.differing_ranks(self.data_fingerprint["sha256"], self.comm)
        ranks = ", ".join(map(str, data_differ or differ))
        if data_differ:
            raise DatasetError(
                f"train: rank(s) {ranks} of {self.comm.size} read other data than rank 0 "
                f"from {self.data_fingerprint['source']} (another SHA-256); give every "
                "rank the same files (on a cluster: the same copy on every machine)"
            )
        raise CheckpointError(
            f"train: rank(s) {ranks} of {self.comm.size} resumed another checkpoint than "
            f"rank 0 (its epoch or arrays differ); give every rank the same run folder "
            "(on a cluster: a shared file system, or the same copy on every machine)"
        )

    def _fit(self, *, progress: bool, echo: Callable[[str], None]) -> None:
        consistent = self.snapshot()
        hang = _Hang(self.folder, self.comm.rank)
        try:
            # The starting state is saved before the first batch, so a run killed in its
            # first epoch (or in the first epoch after resuming into another folder) still
            # leaves a checkpoint to resume from. metrics.jsonl comes after it: a new run
            # stopped before its first checkpoint then leaves no run file, so its folder
            # can be trained into again (an empty metrics.jsonl alone made it a "run" that
            # could be neither resumed nor replaced).
            if self.lead:
                save_checkpoint(self.folder, consistent)
                rewrite_metrics(self.folder, self.history)
            while self.epoch < self.config.epochs:
                # A non-finite value is detected and reported by name (explain_blowup), so
                # NumPy's overflow warnings would only bury that one line.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    record = self.run_epoch(progress=progress, hang=hang)
                self.history.append(record)
                consistent = self.snapshot()
                if self.lead:
                    append_metrics(self.folder, record)
                    save_checkpoint(self.folder, consistent)
                    echo(format_epoch(record, self.config.epochs))
        except KeyboardInterrupt:
            if self.lead:
                save_checkpoint(self.folder, consistent)
                rewrite_metrics(self.folder, consistent["history"])
                if consistent["history"]:
                    self.plot(consistent["history"])
            raise TrainingInterrupted(self.folder, int(consistent["epoch"])) from None
        if self.lead:
            self.plot(self.history)

    def test_accuracy(self) -> float:
        return accuracy(self.engine.logits(self.splits.x_test), self.splits.y_test)


def format_epoch(record: dict[str, Any], epochs: int) -> str:
    """The one-line summary of an epoch printed on stdout."""
    return (
        f"epoch {record['epoch']:>3}/{epochs}  train_loss {record['train_loss']:.4f}  "
        f"val_loss {record['val_loss']:.4f}  val_accuracy {record['val_accuracy']:.4f}  "
        f"{record['seconds']:.2f}s  {record['samples_per_s']:.0f} samples/s  "
        f"lr {record['lr']:.3g}"
    )


REPLAY_SETTINGS = ("compile", "compile_backend")
"""Settings a restored trainer may change: they replay the same step (`explain_blowup`
replays a compiled run's epoch eagerly)."""


def used_setting(config: TrainConfig, name: str) -> Any:
    """The value a run uses for setting `name`: the optimizer's default for a None `lr` or
    `weight_decay`, the model's layer sizes for `hidden` (None for the CNN's fixed layers),
    None for a `momentum` that the optimizer does not use."""
    if name == "lr":
        return config.learning_rate
    if name == "weight_decay" and config.weight_decay is None:
        return ADAMW_DECAY if config.optimizer == "adamw" else 0.0
    if name == "hidden":  # a list given in Python is the tuple the checkpoint reads back
        return None if config.model == "cnn" else tuple(config.hidden_sizes)
    if name == "momentum" and config.optimizer != "momentum":
        return None
    if name == "data":  # a relative folder is the absolute one a run records
        return data_source(config.data)
    return getattr(config, name)


def saved_data_path(checkpoint: Checkpoint) -> tuple[str, str | None]:
    """The data a checkpoint's config names, a folder as an absolute path, and for a folder
    recorded relative (by an older chainrule) how it was resolved (else None): against the
    absolute path its data fingerprint recorded when the run read it, if any, else against
    the current directory."""
    recorded = checkpoint.meta["config"].get("data", TrainConfig.data)
    if not isinstance(recorded, str) or recorded in NAMED_DATA or os.path.isabs(recorded):
        return recorded, None
    saved = checkpoint.meta.get("data_fingerprint")
    source = saved.get("source") if isinstance(saved, dict) else None
    if isinstance(source, str) and os.path.isabs(source):
        how = "as the data fingerprint records the folder the run read"
        return source, f"its config records the relative path {recorded!r}, read {how}"
    absolute = data_source(recorded)
    return absolute, (
        f"its config records the relative path {recorded!r}, read from the current "
        f"directory {os.getcwd()}"
    )


def missing_run_data(checkpoint: Checkpoint, config: TrainConfig) -> str | None:
    """The problem when the folder the run was trained on (`config.data`, as
    `resumed_config` resolved it) is gone, naming the path tried; None when it is there."""
    if config.data in NAMED_DATA or os.path.isdir(config.data):
        return None
    _, how = saved_data_path(checkpoint)
    tried = config.data if how is None else f"{config.data} ({how})"
    return f"the run was trained on the data in {tried}, which is gone"


def resumed_config(checkpoint: Checkpoint, epochs: int | None) -> TrainConfig:
    """The saved config, with `epochs` (the total to reach) replaced when given, and a data
    folder its config records relative (an older chainrule's) made absolute
    (`saved_data_path`), so that the run reads the folder it was trained on."""
    try:
        config = TrainConfig.from_json(checkpoint.meta["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{checkpoint.folder / META_FILE} holds no usable config ({error})"
        ) from None
    config = replace(config, data=saved_data_path(checkpoint)[0])
    if epochs is None or epochs == config.epochs:
        return config
    completed = int(checkpoint.meta["epoch"])
    if epochs < completed:
        raise ValueError(
            f"train: this run already completed {completed} epochs; --epochs "
            f"{epochs} is fewer: pass the total to reach, at least {completed}"
        )
    if config.schedule == "cosine":
        raise ValueError(
            f"train: this run anneals its learning rate over {config.epochs} epochs "
            f"(--schedule cosine); resuming with --epochs {epochs} would change the schedule "
            f"already used: resume without --epochs, or start a new run"
        )
    return replace(config, epochs=epochs)


def train(
    config: TrainConfig,
    folder: str | os.PathLike[str],
    *,
    resume: Checkpoint | str | os.PathLike[str] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Train (or continue) a run in `folder` and return its metrics and test accuracy.

    `resume` is a loaded `Checkpoint` or the path of one (a run folder, or its
    checkpoint.json / checkpoint.npz), made with this `config` (`epochs` may grow)."""
    trainer = Trainer(config, folder)
    if resume is not None:
        trainer.restore(resume if isinstance(resume, Checkpoint) else load_checkpoint(resume))
        if trainer.notice is not None and trainer.lead:
            echo(trainer.notice)
    trainer.fit(progress=progress, echo=echo)
    return RunResult(trainer.folder, History(trainer.history), trainer.test_accuracy())
