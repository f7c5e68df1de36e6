"""Found by reviewing the training side against PyTorch: module state carried across a
save and load."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from chainrule import nn


def test_batchnorm_with_cumulative_average_resumed_from_its_state_follows_torch(
    torch: ModuleType,
) -> None:
    # After torch's test_nn BatchNorm state-dict cases: with momentum=None the running
    # statistics are the plain average over batches, so num_batches_tracked must come back
    # with them for a reloaded layer to keep averaging as the uninterrupted one.
    ours = nn.BatchNorm1d(4, momentum=None, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(4, momentum=None, dtype=torch.float64)
    rng = np.random.default_rng(6)
    for step in range(6):
        x = rng.standard_normal((5, 4)) * 2 + 1
        ours(x)
        theirs(torch.from_numpy(x))
        if step == 2:
            reloaded = nn.BatchNorm1d(4, momentum=None, dtype=np.float64)
            reloaded.load_state_dict(ours.state_dict())
            ours = reloaded
    for name in ("running_mean", "running_var"):
        expected = getattr(theirs, name).numpy()
        got = getattr(ours, name)
        assert got.shape == expected.shape == (4,)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 6
