"""Show the work: the chain rule written out for any recorded graph (`explain`) and the graph
drawn with Graphviz (`draw`)."""

from chainrule.explanation.derivation import Explanation, Leaf, Link, Step, explain
from chainrule.explanation.drawing import Drawing, draw
from chainrule.explanation.replay import Check
from chainrule.explanation.tutorial import tutorial_network

__all__ = [
    "Check",
    "Drawing",
    "Explanation",
    "Leaf",
    "Link",
    "Step",
    "draw",
    "explain",
    "tutorial_network",
]
