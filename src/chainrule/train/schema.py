"""The schema of a run checkpoint: what `Trainer.snapshot` writes, checked entry by entry when
a checkpoint is loaded, so a checkpoint.json of wrong types or ranges is one error naming the
entry, never a crash deep inside the restore nor a run that silently continues oddly.

Hand-written, no dependency: each `_check_*` takes the value and its path in the meta.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, NoReturn

import numpy as np

from chainrule.train.config import TrainConfig
from chainrule.train.metrics import DIAGNOSTIC_KEYS, KEYS

META_KEYS = (
    "epoch",
    "config",
    "model",
    "optimizer",
    "scheduler",
    "loader",
    "dropout_rngs",
    "history",
    "class_names",
)
OPTIONAL_META_KEYS = ("data_fingerprint", "ranks", "dropout_rngs_by_rank")
"""Absent from checkpoints of older chainrule versions; dropout_rngs_by_rank is written by
runs of more than one rank (`chainrule.distributed`)."""

OPTIMIZER_GROUP_KEYS = {
    "sgd": ("lr", "momentum", "dampening", "weight_decay", "nesterov", "params"),
    "momentum": ("lr", "momentum", "dampening", "weight_decay", "nesterov", "params"),
    "adam": ("lr", "betas", "eps", "weight_decay", "params"),
    "adamw": ("lr", "betas", "eps", "weight_decay", "params"),
}
"""The hyperparameters of a parameter group of each `--optimizer` (chainrule.optim's)."""
OPTIONAL_GROUP_KEYS = {
    "sgd": ("maximize",),
    "momentum": ("maximize",),
    "adam": ("amsgrad", "maximize"),
    "adamw": ("amsgrad", "maximize"),
}
"""Flags a group has since chainrule.optim took them (absent from older checkpoints)."""
OPTIMIZER_STATE_KEYS = {
    "sgd": (),
    "momentum": ("momentum_buffer",),
    "adam": ("step", "exp_avg", "exp_avg_sq"),
    "adamw": ("step", "exp_avg", "exp_avg_sq"),
}
"""The per-parameter state each optimizer keeps once it has stepped that parameter."""
SCHEDULER_KEYS = ("T_max", "eta_min", "base_lrs", "last_epoch", "_last_lr")
"""`CosineAnnealingLR.state_dict()`'s entries."""
LOADER_KEYS = (
    "epoch",
    "batches_done",
    "rng_state",
    "batch_size",
    "shuffle",
    "drop_last",
    "num_samples",
)
GENERATOR_KEYS = ("bit_generator", "state", "has_uint32", "uinteger")
"""A PCG64 `bit_generator.state`, the generator of `np.random.default_rng`."""
SHA256 = re.compile(r"[0-9a-f]{64}")


class SchemaError(ValueError):
    """An entry of a checkpoint's meta that breaks the schema; the message names its path."""


def _shown(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _fail(path: str, expected: str, value: Any) -> NoReturn:
    raise SchemaError(f"{path} must be {expected}, got {_shown(value)}")


def _check_mapping(
    value: Any, path: str, keys: Iterable[str] | None = None, optional: Iterable[str] = ()
) -> dict[str, Any]:
    """`value` as an object; with `keys`, it must hold exactly those (and maybe `optional`)."""
    if not isinstance(value, dict):
        _fail(path, "an object", value)
    if keys is not None:
        keys = tuple(keys)
        missing = [key for key in keys if key not in value]
        unknown = sorted(set(value) - set(keys) - set(optional))
        if missing:
            raise SchemaError(f"{path} lacks {', '.join(map(repr, missing))}")
        if unknown:
            raise SchemaError(f"{path} has unknown entries {', '.join(map(repr, unknown))}")
    return value


def _check_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(path, "a list", value)
    return value


def _check_integer(value: Any, path: str, low: int = 0, high: int | None = None) -> int:
    """A JSON integer (not a bool) in low..high."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        _fail(path, "an integer", value)
    if value < low or (high is not None and value > high):
        bounds = f"in {low}..{high}" if high is not None else f">= {low}"
        _fail(path, f"an integer {bounds}", value)
    return int(value)


def _check_number(value: Any, path: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite JSON number (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        _fail(path, "a number", value)
    if not low <= float(value) <= high:
        _fail(path, f"a number in [{low:g}, {high:g}]", value)
    return float(value)


def _check_numbers(
    value: Any, path: str, length: int | None = None, low: float = -math.inf
) -> None:
    items = _check_list(value, path)
    if length is not None and len(items) != length:
        _fail(path, f"a list of {length} numbers", value)
    for index, item in enumerate(items):
        _check_number(item, f"{path}/{index}", low)


def _check_boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        _fail(path, "true or false", value)


def _check_string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        _fail(path, "a string", value)
    return value


def _check_array(value: Any, path: str) -> None:
    """A floating-point array of at least one dimension, stored in checkpoint.npz."""
    if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim >= 1):
        _fail(path, "a floating-point array (a reference into checkpoint.npz)", value)


def _check_config(value: Any, path: str) -> TrainConfig:
    settings = _check_mapping(value, path)
    try:
        return TrainConfig.from_json(settings)
    except (TypeError, ValueError) as error:
        message = str(error).removeprefix("train: ")
        raise SchemaError(f"{path} is not a usable config ({message})") from None


def _check_generator(value: Any, path: str) -> None:
    state = _check_mapping(value, path, GENERATOR_KEYS)
    if state["bit_generator"] != "PCG64":
        _fail(f"{path}/bit_generator", "'PCG64'", state["bit_generator"])
    inner = _check_mapping(state["state"], f"{path}/state", ("state", "inc"))
    for key in ("state", "inc"):
        _check_integer(inner[key], f"{path}/state/{key}", 0, 2**128 - 1)
    _check_integer(state["has_uint32"], f"{path}/has_uint32", 0, 1)
    _check_integer(state["uinteger"], f"{path}/uinteger", 0, 2**32 - 1)


def _check_optimizer(value: Any, path: str, config: TrainConfig) -> int:
    """The optimizer's state dict; returns its number of parameter groups."""
    optimizer = _check_mapping(value, path, ("state", "param_groups"))
    groups = _check_list(optimizer["param_groups"], f"{path}/param_groups")
    if not groups:
        _fail(f"{path}/param_groups", "a non-empty list", groups)
    for position, group in enumerate(groups):
        where = f"{path}/param_groups/{position}"
        entries = _check_mapping(
            group,
            where,
            OPTIMIZER_GROUP_KEYS[config.optimizer],
            optional=OPTIONAL_GROUP_KEYS[config.optimizer],
        )
        for key, item in entries.items():
            if key == "params":
                for index, param in enumerate(_check_list(item, f"{where}/params")):
                    _check_integer(param, f"{where}/params/{index}")
            elif key in ("nesterov", "amsgrad", "maximize"):
                _check_boolean(item, f"{where}/{key}")
            elif key == "betas":
                _check_numbers(item, f"{where}/{key}", length=2, low=0.0)
            else:
                _check_number(item, f"{where}/{key}", low=0.0)
    state = _check_mapping(optimizer["state"], f"{path}/state")
    for key, entries in state.items():
        if not key.isdecimal():
            raise SchemaError(f"{path}/state is keyed by parameter indices 0, 1, ..., got {key!r}")
        where = f"{path}/state/{key}"
        for name, item in _check_mapping(
            entries, where, OPTIMIZER_STATE_KEYS[config.optimizer]
        ).items():
            if name == "step":
                _check_integer(item, f"{where}/step", low=1)
            else:
                _check_array(item, f"{where}/{name}")
    return len(groups)


def _check_scheduler(value: Any, path: str, config: TrainConfig, epoch: int, groups: int) -> None:
    if config.schedule != "cosine":
        if value is not None:
            _fail(path, f"null (the run's schedule is {config.schedule})", value)
        return
    scheduler = _check_mapping(value, path, SCHEDULER_KEYS)
    if _check_integer(scheduler["T_max"], f"{path}/T_max", low=1) != config.epochs:
        _fail(f"{path}/T_max", f"the run's epochs ({config.epochs})", scheduler["T_max"])
    if _check_integer(scheduler["last_epoch"], f"{path}/last_epoch") != epoch:
        _fail(f"{path}/last_epoch", f"the checkpoint's epoch ({epoch})", scheduler["last_epoch"])
    _check_number(scheduler["eta_min"], f"{path}/eta_min", low=0.0)
    _check_numbers(scheduler["base_lrs"], f"{path}/base_lrs", length=groups, low=0.0)
    _check_numbers(scheduler["_last_lr"], f"{path}/_last_lr", length=groups, low=0.0)


def _check_loader(value: Any, path: str) -> None:
    loader = _check_mapping(value, path, LOADER_KEYS)
    for key in ("epoch", "batches_done"):
        _check_integer(loader[key], f"{path}/{key}")
    for key in ("batch_size", "num_samples"):
        _check_integer(loader[key], f"{path}/{key}", low=1)
    for key in ("shuffle", "drop_last"):
        _check_boolean(loader[key], f"{path}/{key}")
    _check_generator(loader["rng_state"], f"{path}/rng_state")


def _check_history(value: Any, path: str, config: TrainConfig, epoch: int) -> None:
    records = _check_list(value, path)
    if len(records) != epoch:
        raise SchemaError(
            f"{path} must hold one record per completed epoch ({epoch}), got {len(records)}"
        )
    keys = KEYS + DIAGNOSTIC_KEYS if config.diagnostics else KEYS
    for index, record in enumerate(records):
        where = f"{path}/{index}"
        entries = _check_mapping(record, where, keys)
        if _check_integer(entries["epoch"], f"{where}/epoch") != index + 1:
            _fail(f"{where}/epoch", f"{index + 1} (records are in epoch order)", entries["epoch"])
        for key in ("train_loss", "val_loss", "seconds", "samples_per_s", "lr"):
            _check_number(entries[key], f"{where}/{key}", low=0.0)
        _check_number(entries["val_accuracy"], f"{where}/val_accuracy", 0.0, 1.0)
        for key in DIAGNOSTIC_KEYS if config.diagnostics else ():
            for layer, number in _check_mapping(entries[key], f"{where}/{key}").items():
                _check_number(number, f"{where}/{key}/{layer}", low=0.0)


def _check_fingerprint(value: Any, path: str) -> None:
    fingerprint = _check_mapping(value, path, ("sha256", "source"))
    if not SHA256.fullmatch(_check_string(fingerprint["sha256"], f"{path}/sha256")):
        _fail(f"{path}/sha256", "64 lowercase hexadecimal digits", fingerprint["sha256"])
    _check_string(fingerprint["source"], f"{path}/source")


def _check_ranks(root: dict[str, Any]) -> None:
    """`ranks` (default 1) and, for more than one, every rank's dropout generators."""
    ranks = _check_integer(root["ranks"], "meta/ranks", 1) if "ranks" in root else 1
    if "dropout_rngs_by_rank" not in root:
        if ranks > 1:
            _fail("meta/dropout_rngs_by_rank", f"the dropout generators of {ranks} ranks", None)
        return
    per_rank = _check_list(root["dropout_rngs_by_rank"], "meta/dropout_rngs_by_rank")
    if len(per_rank) != ranks:
        _fail("meta/dropout_rngs_by_rank", f"a list of {ranks} ranks' generators", per_rank)
    for rank, states in enumerate(per_rank):
        where = f"meta/dropout_rngs_by_rank/{rank}"
        for index, state in enumerate(_check_list(states, where)):
            _check_generator(state, f"{where}/{index}")


def validate_meta(meta: Any) -> None:
    """Check every entry of a run checkpoint's meta (arrays already joined in) for its type
    and range, and the entries against each other (the epoch against the config's epochs,
    the history and schedule against the epoch); SchemaError names the first that fails."""
    root = _check_mapping(meta, "meta", META_KEYS, optional=OPTIONAL_META_KEYS)
    config = _check_config(root["config"], "meta/config")
    epoch = _check_integer(root["epoch"], "meta/epoch", 0, config.epochs)
    model = _check_mapping(root["model"], "meta/model")
    if not model:
        _fail("meta/model", "the weights by name", model)
    for name, weight in model.items():
        _check_array(weight, f"meta/model/{name}")
    groups = _check_optimizer(root["optimizer"], "meta/optimizer", config)
    _check_scheduler(root["scheduler"], "meta/scheduler", config, epoch, groups)
    _check_loader(root["loader"], "meta/loader")
    for index, state in enumerate(_check_list(root["dropout_rngs"], "meta/dropout_rngs")):
        _check_generator(state, f"meta/dropout_rngs/{index}")
    _check_history(root["history"], "meta/history", config, epoch)
    names = _check_list(root["class_names"], "meta/class_names")
    if not names:
        _fail("meta/class_names", "a non-empty list", names)
    for index, name in enumerate(names):
        _check_string(name, f"meta/class_names/{index}")
    if "data_fingerprint" in root:
        _check_fingerprint(root["data_fingerprint"], "meta/data_fingerprint")
    _check_ranks(root)
