"""Neural-network building blocks in the style of `torch.nn`: `Module`, layers, losses.

A model is a `Module` whose `Parameter`s are leaf tensors; `chainrule.optim` updates them.
"""

from chainrule.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softsign,
    Tanh,
)
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
from chainrule.nn.embedding import Embedding
from chainrule.nn.layernorm import LayerNorm
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from chainrule.nn.module import IncompatibleKeys, Module
from chainrule.nn.parameter import Parameter

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "SELU",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "MSELoss",
    "Mish",
    "Module",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softsign",
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
# --- training utilities (nn-utils): chainrule.nn.utils, as torch.nn.utils
from chainrule.nn import utils  # noqa: E402

__all__ += ["utils"]
# --- containers and initialisation (nn-containers), as torch.nn's
from chainrule.nn import init  # noqa: E402
from chainrule.nn.module_containers import ModuleDict, ModuleList  # noqa: E402
from chainrule.nn.parameter_containers import ParameterDict, ParameterList  # noqa: E402

__all__ += ["ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "init"]
