"""Fashion-MNIST with an MLP through `chainrule train`: the accuracy figure of the README.

Run:  PYTHONPATH=src python benchmarks/fashion_mnist.py [--epochs N] [--out DIR]
It trains 784-256-128-10 (ReLU, softmax cross-entropy) with Adam and a cosine schedule on
the 54000 training images (6000 held out for validation), then prints the test accuracy
over the 10000 test images and the wall time. The dataset's benchmark table lists an
MLP 256-128-100 at 0.8833; the target here is >= 0.89.
"""

from __future__ import annotations

import argparse
import sys
import time

from chainrule.cli import main


def run() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", default="20")
    parser.add_argument("--out", default="runs/fashion-mnist")
    args = parser.parse_args()
    command = [
        "train",
        "--data",
        "fashion-mnist",
        "--model",
        "mlp",
        "--hidden",
        "256,128",
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--schedule",
        "cosine",
        "--batch-size",
        "128",
        "--epochs",
        args.epochs,
        "--out",
        args.out,
        "--no-progress",
    ]
    print("chainrule " + " ".join(command), flush=True)
    started = time.perf_counter()
    status = main(command)
    print(f"wall time {time.perf_counter() - started:.1f}s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(run())
