"""The tutorial network differentiated by hand: forward, chain-rule backward, closed form,
and the same derivation as layers for networks of any depth."""

from chainrule.manual.closed_form import closed_form_grads
from chainrule.manual.cross_entropy import SoftmaxCrossEntropy
from chainrule.manual.layers import MSE, Layer, Linear, ReLU, Sequential
from chainrule.manual.network import Cache, backward, forward
from chainrule.manual.params import he_normal, init_params

__all__ = [
    "MSE",
    "Cache",
    "Layer",
    "Linear",
    "ReLU",
    "Sequential",
    "SoftmaxCrossEntropy",
    "backward",
    "closed_form_grads",
    "forward",
    "he_normal",
    "init_params",
]
