"""`TrainConfig`: every setting of a training run, saved in its checkpoint.

A resumed run rebuilds the model, optimizer and data from the saved config, so the same
settings produce the same batches and the same updates.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MODELS = ("seed", "mlp", "cnn")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
ENGINES = ("autograd", "manual")
SCHEDULES = ("constant", "cosine")
DTYPES = ("float32", "float64")
NAMED_DATA = ("digits", "fashion-mnist", "mnist")
DEVICES = ("cpu", "cuda")  # devices (issue 16): NumPy, or CuPy on an NVIDIA GPU

DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 3e-3, "adamw": 3e-3}
"""The learning rate each optimizer gets when --lr is not given (and `TrainConfig.lr` is None),
for every model but the command line's CNN (CNN_DEFAULT_LR)."""

CNN_DEFAULT_LR = {"sgd": 0.3, "momentum": 0.1, "adam": 1e-3, "adamw": 1e-3}
"""The learning rate `chainrule train --model cnn` takes for each optimizer when --lr is not
given, saved in the run's config. Measured on the bundled digits (5 epochs, batch 64, cosine
schedule, seed 0), validation accuracy after epoch 5: sgd 0.1 0.215 (near chance: the CNN's
gradients start small), 0.3 0.854, 1.0 0.694 (unsteady early); momentum 0.9 at 0.03 0.688,
0.1 0.924; adam 0.001 0.840, 0.003 0.903. Adam keeps the 0.001 measured over 12 epochs on
Fashion-MNIST, the CNN's 28x28 target (CNN_DEFAULTS; README, Training)."""

SEED_HIDDEN = (50,)
"""The tutorial network's one hidden layer of 50 ReLU units."""

CNN_DEFAULTS: dict[str, Any] = {"epochs": 12, "batch_size": 64, "optimizer": "adam"}
"""What `chainrule train --model cnn` takes where the command line says nothing (and the
learning rate of its optimizer, CNN_DEFAULT_LR). Measured with
6 epochs: 0.9014 test accuracy on Fashion-MNIST in 189 s of CPU time, its validation accuracy
still rising by 0.3-0.5 points an epoch; 12 epochs (about 6.5 CPU minutes) are chosen to pass
0.91, which is not yet measured (README, Training)."""


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_whole_number(value: object) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int": _is_integer,
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "tuple[int, ...]": lambda value: (
        isinstance(value, (list, tuple)) and all(map(_is_integer, value))
    ),
}
"""Whether a saved JSON value fits a field of each annotation (`X | None` also takes null)."""


def _fits(value: Any, annotation: str) -> bool:
    if annotation.endswith(" | None"):
        return value is None or _fits(value, annotation.removesuffix(" | None"))
    return JSON_TYPES[annotation](value)


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one run. `hidden` applies to `model="mlp"`; the `seed` model is the
        tutorial network, one hidden ReLU layer of 50 units, with a softmax cross-entropy head.

        `data` is "digits", "fashion-mnist", "mnist" or a folder of MNIST-format IDX files.
        `lr` None means the optimizer's default (`DEFAULT_LR`); `weight_decay` None means the
        optimizer's own default (0, or 0.01 for AdamW, decoupled). `momentum` is used by the
        "momentum" optimizer. `dropout` (autograd only) follows each hidden ReLU (in the CNN, its
    dense hidden ReLU).
        `compile` traces the training step with `chainrule.compile`, replayed by
        `compile_backend`: "numpy" (the flat NumPy replay) or "xla" (one jitted JAX function).
        `diagnostics` adds per-layer gradient norms and dead-ReLU fractions to every epoch's
        metrics and draws them to gradients.png; it leaves the training itself unchanged.
    """

    model: str = "seed"
    hidden: tuple[int, ...] = (256, 128)
    data: str = "digits"
    epochs: int = 40
    batch_size: int = 32
    lr: float | None = None
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float | None = None
    schedule: str = "cosine"
    dropout: float = 0.0
    engine: str = "autograd"
    dtype: str = "float32"
    seed: int = 0
    val_fraction: float = 0.1
    compile: bool = False
    compile_backend: str = "numpy"
    diagnostics: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        for field in ("lr", "momentum", "weight_decay", "dropout", "val_fraction"):
            value = getattr(self, field)
            if value is None and field in ("lr", "weight_decay"):
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"train: --{field.replace('_', '-')} must be a real number, "
                    f"got {type(value).__name__} {value!r:.40}"
                )
            # NumPy scalars become Python floats, so the saved config stays plain JSON.
            object.__setattr__(self, field, float(value))
        if isinstance(self.data, os.PathLike):
            # Saved as JSON in the checkpoint: a Path failed the first save, half-written.
            object.__setattr__(self, "data", os.fspath(self.data))
        if not isinstance(self.data, str):
            raise TypeError(
                f"train: --data must be a data set's name or a folder's path, got "
                f"{type(self.data).__name__} {self.data!r:.40}"
            )
        for field, allowed in (
            ("model", MODELS),
            ("optimizer", OPTIMIZERS),
            ("engine", ENGINES),
            ("schedule", SCHEDULES),
            ("dtype", DTYPES),
            ("device", DEVICES),
        ):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(
                    f"train: --{field} must be one of {', '.join(allowed)}, got {value!r}"
                )
        if not _is_integer(self.seed) or self.seed < 0:
            raise ValueError(f"train: --seed must be a non-negative integer, got {self.seed!r}")
        for field in ("epochs", "batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"train: --{field.replace('_', '-')} must be a positive integer, got {value!r}"
                )
        if not all(map(_is_whole_number, self.hidden)):
            # True would build a layer of one unit, 16.5 fail inside nn.Linear; either,
            # saved, makes a checkpoint that from_json refuses.
            raise TypeError(f"train: --hidden sizes must be integers, got {tuple(self.hidden)!r}")
        # A list given in Python becomes the tuple a checkpoint reads back.
        object.__setattr__(self, "hidden", tuple(int(size) for size in self.hidden))
        if not self.hidden or any(size < 1 for size in self.hidden):
            raise ValueError(
                f"train: --hidden needs one or more positive sizes, e.g. 256,128; "
                f"got {','.join(map(str, self.hidden)) or 'nothing'}"
            )
        if self.lr is not None and not 0 < self.lr < float("inf"):
            raise ValueError(f"train: --lr must be positive and finite, got {self.lr}")
        if not 0 <= self.momentum < float("inf"):
            raise ValueError(f"train: --momentum must be a finite number >= 0, got {self.momentum}")
        if self.weight_decay is not None and not 0 <= self.weight_decay < float("inf"):
            raise ValueError(
                f"train: --weight-decay must be a finite number >= 0, got {self.weight_decay}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"train: --dropout is a probability in [0, 1), got {self.dropout}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(
                f"train: the validation fraction must be in (0, 1), got {self.val_fraction}"
            )
        if self.engine == "manual" and (self.dropout > 0 or self.compile):
            raise ValueError(
                "train: --engine manual runs Linear and ReLU layers differentiated by hand; "
                "it has no dropout and is not traced by --compile: use --engine autograd "
                "for --dropout or --compile"
            )
        if self.model == "cnn" and self.engine == "manual":
            raise ValueError(
                "train: --engine manual differentiates Linear and ReLU layers by hand and has "
                "no convolutions; use --engine autograd for --model cnn"
            )
        if self.compile_backend not in ("numpy", "xla"):
            raise ValueError(f"train: --compile takes numpy or xla, got {self.compile_backend!r}")
        if self.compile_backend != "numpy" and not self.compile:
            raise ValueError(
                f"train: compile_backend {self.compile_backend!r} is set but compile is off; "
                f"pass --compile {self.compile_backend}"
            )
        if self.device != "cpu" and (self.engine == "manual" or self.compile):
            raise ValueError(
                f"train: --device {self.device} trains the autograd engine eagerly; "
                "--engine manual and --compile compute in NumPy on the cpu: drop them, or "
                "use --device cpu"
            )
        if self.compile and self.dropout > 0:
            raise ValueError(
                "train: --compile replays a traced step, which would freeze the dropout mask "
                "at its first draw; drop --compile or --dropout"
            )

    @property
    def learning_rate(self) -> float:
        """`lr`, or the optimizer's default learning rate when it was not given."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """The hidden layer sizes of the chosen model."""
        return SEED_HIDDEN if self.model == "seed" else self.hidden

    def to_json(self) -> dict[str, Any]:
        """The config as plain JSON data (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The config `to_json` wrote (missing settings take their defaults); unknown keys,
        and values of the wrong JSON type, are an error naming them."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"train: the saved config has unknown settings {unknown}; was it "
                f"written by a newer chainrule?"
            )
        for field in dataclasses.fields(cls):
            if field.name in data and not _fits(data[field.name], str(field.type)):
                raise TypeError(
                    f"train: the saved config's {field.name} must be of type "
                    f"{field.type}, got {data[field.name]!r}"
                )
        values = dict(data)
        if "hidden" in values:
            values["hidden"] = tuple(int(size) for size in values["hidden"])
        return cls(**values)


def parse_hidden(text: str) -> tuple[int, ...]:
    """'256,128' -> (256, 128); a clear error for anything else."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"train: --hidden takes comma-separated layer sizes such as 256,128; got {text!r}"
        ) from None
    if not sizes or any(size < 1 for size in sizes):
        raise ValueError(
            f"train: --hidden takes positive layer sizes such as 256,128; got {text!r}"
        )
    return sizes
