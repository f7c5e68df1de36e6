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


def test_a_slice_of_sequential_keeps_the_names_of_its_modules() -> None:
    rng = np.random.default_rng(1)
    full = nn.Sequential(*(nn.Linear(3, 3, rng=rng) for _ in range(3)))
    tail = full[1:]
    # torch keeps the keys: "1.weight" of the slice is "1.weight" of the whole model
    assert [name for name, _ in tail.named_parameters()] == [
        "1.weight",
        "1.bias",
        "2.weight",
        "2.bias",
    ]
    fresh = nn.Sequential(*(nn.Linear(3, 3, rng=rng) for _ in range(3)))
    fresh[1:].load_state_dict(full.state_dict(), strict=False)
    np.testing.assert_array_equal(fresh[1].weight.data, full[1].weight.data)
    np.testing.assert_array_equal(fresh[2].weight.data, full[2].weight.data)
    assert not np.array_equal(fresh[0].weight.data, full[0].weight.data)
    assert tail[0] is full[1]
    assert len(full[::2]) == 2
    assert [name for name, _ in full[::-2].named_parameters()] == [
        "2.weight",
        "2.bias",
        "0.weight",
        "0.bias",
    ]
