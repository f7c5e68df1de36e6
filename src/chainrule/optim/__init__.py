"""Optimizers and learning-rate schedules in the style of `torch.optim`, updating
`chainrule.nn` parameters in place with PyTorch's update rules."""

from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "Optimizer", "StepLR"]
