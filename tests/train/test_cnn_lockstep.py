"""The CNN of `chainrule train --model cnn`, trained in lockstep with the same network in
PyTorch: same weights, same batch of real images, 50 SGD steps in float64; every step's loss
agrees to 1e-9 relative, so forward, backward and update agree all along the way."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from chainrule import optim
from chainrule.data import load_digits
from chainrule.functional import cross_entropy
from chainrule.train.config import TrainConfig
from chainrule.train.models import build_cnn

STEPS = 50
LR = 0.05


def upsampled_digits(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` 8x8 digits, nearest-neighbour upsampled to flat 28x28 images."""
    images, labels = load_digits()
    rows = np.arange(28) * 8 // 28
    large = images[:count].reshape(count, 8, 8)[:, rows][:, :, rows]
    return large.reshape(count, 28 * 28), labels[:count]


def torch_cnn(torch: ModuleType, state: dict[str, np.ndarray]) -> object:
    """The same layers in torch.nn, holding `state` (Linear weights transposed)."""
    layers = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 28, 28)),
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 7 * 7, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    ).double()
    with torch.no_grad():
        for name, param in layers.named_parameters():
            value = state[name]
            if param.ndim == 2:  # chainrule's Linear stores (in, out)
                value = value.T
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return layers


def test_cnn_trains_in_lockstep_with_pytorch_for_50_sgd_steps(torch: ModuleType) -> None:
    x, y = upsampled_digits(32)
    config = TrainConfig(model="cnn", dtype="float64")
    model = build_cnn(config, 28 * 28, 10, init_rng=np.random.default_rng(0))
    reference = torch_cnn(torch, model.state_dict())
    ours = optim.SGD(list(model.parameters()), lr=LR)
    theirs = torch.optim.SGD(reference.parameters(), lr=LR)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    our_losses, their_losses = [], []
    for _ in range(STEPS):
        ours.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        ours.step()
        our_losses.append(float(loss.item()))

        theirs.zero_grad()
        their_loss = torch.nn.functional.cross_entropy(reference(inputs), targets)
        their_loss.backward()
        theirs.step()
        their_losses.append(float(their_loss.item()))

    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-9, atol=0)
    assert our_losses[-1] < 0.5 * our_losses[0], our_losses  # it learned: real updates
