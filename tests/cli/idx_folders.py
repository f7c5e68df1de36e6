"""Small MNIST-format data folders for the command-line tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_idx_folder(folder: Path, seed: int) -> None:
    """A small MNIST-format data set (40 training and 10 test images) drawn from `seed`."""
    from chainrule.data import save_idx

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", 40), ("t10k", 10)):
        save_idx(
            folder / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
        )
        save_idx(
            folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count, dtype=np.uint8)
        )
