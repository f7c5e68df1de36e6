"""Neural-network building blocks in the style of `torch.nn`: `Module`, layers, losses.

A model is a `Module` whose `Parameter`s are leaf tensors; `chainrule.optim` updates them.
"""

from chainrule.nn.activation import ReLU, Sigmoid, Tanh
from chainrule.nn.batchnorm import BatchNorm1d
from chainrule.nn.container import Sequential
from chainrule.nn.conv import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Flatten,
    MaxPool2d,
    Unflatten,
)
from chainrule.nn.dropout import Dropout
from chainrule.nn.linear import Linear
from chainrule.nn.loss import CrossEntropyLoss, MSELoss
from chainrule.nn.module import IncompatibleKeys, Module
from chainrule.nn.parameter import Parameter

__all__ = [
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "IncompatibleKeys",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
]
# --- convolutions (issue 14)
__all__ += [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "Conv1d",
    "Conv2d",
    "Flatten",
    "MaxPool2d",
    "Unflatten",
]
