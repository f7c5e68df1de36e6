"""The progress bar of an epoch: tqdm on stderr with the running loss and samples/s.

Shown only when stderr is a terminal and progress is wanted; otherwise every call is a no-op,
so logs and pipes get just the one-line-per-epoch summary on stdout.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class EpochProgress:
    """`update(samples, loss)` after each batch; `close()` at the end of the epoch."""

    def __init__(self, epoch: int, epochs: int, batches: int, *, enabled: bool) -> None:
        self.bar: Any = None
        self.started = time.perf_counter()
        self.samples = 0
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=batches,
                desc=f"epoch {epoch}/{epochs}",
                unit="batch",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, samples: int, loss: float) -> None:
        self.samples += samples
        if self.bar is None:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix(
            loss=f"{loss:.4f}", samples_per_s=f"{self.samples / elapsed:.0f}", refresh=False
        )
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
