"""Review v: the Module API where it differed from torch.nn.Module without saying so."""

from __future__ import annotations

import numpy as np

from chainrule import nn


class FrozenBatchNorm(nn.BatchNorm1d):
    """A common pattern (detection backbones): a norm layer that stays in eval mode."""

    def train(self, mode: bool = True) -> FrozenBatchNorm:
        return super().train(False)


def test_train_on_a_parent_calls_each_childs_own_train() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(FrozenBatchNorm(3)))
    model.train()
    frozen = model[1][0]
    assert model.training
    assert model[1].training
    assert not frozen.training  # torch: the override is called, the flag stays False
    before = frozen.running_mean.copy()
    model(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_array_equal(frozen.running_mean, before)


def test_eval_then_train_reaches_every_module_through_overrides() -> None:
    calls: list[bool] = []

    class Recording(nn.Module):
        def train(self, mode: bool = True) -> Recording:
            calls.append(mode)
            return super().train(mode)

    model = nn.Sequential(nn.Sequential(Recording()), Recording())
    model.eval()
    model.train()
    assert calls == [False, False, True, True]
    assert all(module.training for module in model.modules())
