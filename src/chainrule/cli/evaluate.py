"""`chainrule evaluate`: a trained run's accuracy on the test set and its confusion matrix.

Prints the accuracy and the matrix (rows: true class, columns: predicted) and saves it as
confusion.png next to the checkpoint, titled with the data set, the epoch and the accuracy
(a run resumed later keeps it beside a newer checkpoint).

Under mpiexec rank 0 alone evaluates, prints and writes (as `chainrule train` has rank 0
alone write); the evaluation is not split across ranks, so the others end at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from chainrule.cli._common import describe_os_error, missing_extras, probe_writable, report_error
from chainrule.placement import cuda_problem


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="test accuracy and confusion matrix of a trained run",
        description=__doc__,
    )
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a run folder, or its checkpoint.json / checkpoint.npz",
    )
    parser.add_argument(
        "--data",
        metavar="NAME|DIR",
        help="evaluate on this data set's test split instead of the run's",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from chainrule.distributed import SingleProcess
    from chainrule.distributed.launcher import launched_world
    from chainrule.train import CheckpointError, Trainer, load_checkpoint
    from chainrule.train.evaluation import confusion_matrix, format_confusion
    from chainrule.train.loop import missing_run_data, resumed_config
    from chainrule.train.plots import plot_confusion
    from chainrule.train.run_folder import CONFUSION_PLOT

    try:
        if launched_world()[0] != 0:
            return 0
        checkpoint = load_checkpoint(args.checkpoint)
        # Evaluating runs no training step, and the logits are computed eagerly whatever
        # the run compiled: an --compile xla run is evaluated without needing JAX.
        config = replace(resumed_config(checkpoint, None), compile=False, compile_backend="numpy")
        if args.data is not None:
            config = replace(config, data=args.data)
        else:
            gone = missing_run_data(checkpoint, config)
            if gone is not None:
                raise ValueError(
                    f"{gone}; put it back there, or evaluate on other data on purpose with "
                    f"--data NAME|DIR"
                )
        problem = cuda_problem() if config.device == "cuda" else None
        if problem is not None:
            raise ValueError(
                f"the run was trained with --device cuda, which it is evaluated on: {problem}"
            )
        missing = missing_extras(["matplotlib", *(["sklearn"] if config.data == "digits" else [])])
        if missing is not None:
            raise ValueError(missing)
        probe_writable(checkpoint.folder, [CONFUSION_PLOT])
        # One process evaluates: no collective may wait on the ranks that ended.
        trainer = Trainer(config, checkpoint.folder, comm=SingleProcess())
        if args.data is not None:
            pixels = trainer.splits.num_features
            _check_input_size(checkpoint.meta.get("model"), pixels, args.data)
            _check_model_fits(
                checkpoint.meta.get("model"), trainer.engine.state_dict(), pixels, args.data
            )
        else:
            _check_same_data(checkpoint.meta.get("data_fingerprint"), trainer.data_fingerprint)
        trainer.load_weights(checkpoint)
    except (CheckpointError, ValueError) as error:
        report_error("evaluate", error)
        return 2
    except BrokenPipeError:
        raise  # stdout's reader went away: main() ends quietly with 141
    except OSError as error:
        print(f"chainrule evaluate: {describe_os_error(error)}", file=sys.stderr)
        return 2
    splits = trainer.splits
    predictions = np.argmax(trainer.engine.logits(splits.x_test), axis=1)
    matrix = confusion_matrix(splits.y_test, predictions, splits.num_classes)
    correct, total = int(np.trace(matrix)), int(matrix.sum())
    path = checkpoint.folder / CONFUSION_PLOT
    scored = f"{config.data} test set, epoch {checkpoint.meta['epoch']} of {checkpoint.folder.name}"
    try:
        plot_confusion(
            matrix, splits.class_names, path, title=f"{scored}: accuracy {correct / total:.4f}"
        )
    except BrokenPipeError:
        raise  # stdout's reader went away: main() ends quietly with 141
    except OSError as error:
        print(f"chainrule evaluate: {describe_os_error(error)}", file=sys.stderr)
        return 2
    print(f"{config.data} test set, epoch {checkpoint.meta['epoch']} of {checkpoint.folder}")
    print(format_confusion(matrix, splits.class_names))
    print(
        f"test accuracy {correct / total:.4f} ({correct}/{total}); confusion matrix saved to {path}"
    )
    return 0


def _check_input_size(model: object, pixels: int, data: str) -> None:
    """Refuse data whose images have another number of pixels than the model's first layer
    takes inputs (its weight is (inputs, outputs)), naming both sizes."""
    if not isinstance(model, dict) or not model:
        return
    first_weight = np.shape(next(iter(model.values())))
    if len(first_weight) == 2 and first_weight[0] != pixels:
        raise ValueError(
            f"the run's model takes {first_weight[0]} inputs (pixels per image), "
            f"but --data {data} holds images of {pixels} pixels; evaluate on "
            f"images of the size the run was trained on"
        )


def _check_model_fits(model: object, built: dict[str, Any], pixels: int, data: str) -> None:
    """Refuse data whose images need weights of other shapes than the run's (the CNN's first
    dense layer takes as many inputs as its pooled images have values), naming the first
    weight that differs, instead of blaming the checkpoint when its weights do not load."""
    if not isinstance(model, dict):
        return
    for name, weight in built.items():
        saved = model.get(name)
        if saved is not None and np.shape(saved) != np.shape(weight):
            raise ValueError(
                f"the run's model does not take the images of --data {data} ({pixels} pixels "
                f"per image): its {name} is {np.shape(saved)} where these images need "
                f"{np.shape(weight)}; evaluate on images of the size the run was trained on"
            )


def _check_same_data(saved: Any, current: dict[str, str]) -> None:
    """Refuse to score a run on "its" test set when its data now read differently than when
    it was trained (as a resume refuses): the accuracy would be of other images, unnoticed.
    A checkpoint recording no fingerprint (an older chainrule) is not checked."""
    from chainrule.train.datasets import data_difference

    difference = data_difference(saved, current)
    if difference is not None:
        raise ValueError(
            f"{difference}; restore the run's data, or evaluate on these on purpose with "
            f"--data {current['source']}"
        )
