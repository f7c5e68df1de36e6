"""Which of the 150 torch names a tutorial or training user reaches for most (a judgement:
torch.Tensor methods, torch.* functions and torch.nn.functional) chainrule lacks.

Each name is first checked to exist in torch 2.13's own namespace, then looked up in
chainrule under the same name or the name chainrule gives the same op (ALIASES: NumPy's
names where torch's differ). Prints the missing names by namespace.

    PYTHONPATH=src python benchmarks/vocabulary_survey.py
"""

from __future__ import annotations

import sys

import chainrule as cr
import chainrule.functional as F


def _words(text: str) -> list[str]:
    return text.split()


TENSOR_METHODS = _words("""
add sub mul div matmul pow exp log sqrt abs neg sum mean std var max min amax amin argmax
argmin prod norm reshape view view_as permute transpose t squeeze unsqueeze flatten expand
expand_as repeat contiguous clone detach chunk split unbind narrow gather scatter scatter_add
index_select masked_fill clamp clip sigmoid tanh relu softmax log_softmax round floor
ceil sign cumsum sort topk nan_to_num all any logsumexp bmm mm outer tril triu
""")
TORCH_FUNCTIONS = _words("""
tensor zeros ones zeros_like ones_like full arange linspace eye randn rand cat stack split
chunk unbind where einsum matmul mm bmm addmm baddbmm cdist cumsum logsumexp softmax clamp
amax amin argmax topk sort isclose permute gather nan_to_num meshgrid
""")
FUNCTIONAL = _words("""
relu gelu silu elu leaky_relu selu softplus sigmoid tanh softmax log_softmax glu hardtanh
linear conv1d conv2d conv_transpose2d max_pool2d avg_pool2d adaptive_avg_pool2d
adaptive_max_pool2d dropout embedding one_hot pad interpolate normalize layer_norm
batch_norm group_norm cross_entropy nll_loss mse_loss l1_loss smooth_l1_loss huber_loss
binary_cross_entropy binary_cross_entropy_with_logits kl_div cosine_similarity
pairwise_distance scaled_dot_product_attention
""")

# torch's name -> chainrule's name for the same op
ALIASES = {
    "add": "__add__",
    "sub": "__sub__",
    "mul": "__mul__",
    "div": "__truediv__",
    "pow": "__pow__",
    "neg": "__neg__",
    "eq": "__eq__",
    "permute": "transpose",
    "t": "T",
    "expand": "broadcast_to",
    "clamp": "clip",
    "cat": "concatenate",
    "mm": "matmul",
    "float": "astype",
    "double": "astype",
    "type_as": "astype",
    "index_select": "take",
    "tensor": "tensor",
}


def _has(namespaces: tuple[object, ...], name: str) -> bool:
    target = ALIASES.get(name, name)
    return target is not None and any(hasattr(space, target) for space in namespaces)


def main() -> int:
    import torch
    import torch.nn.functional as torch_functional

    surveys = (
        ("torch.Tensor", torch.Tensor, TENSOR_METHODS, (cr.Tensor,)),
        ("torch", torch, TORCH_FUNCTIONS, (cr, F)),
        ("torch.nn.functional", torch_functional, FUNCTIONAL, (F, cr)),
    )
    total = sum(len(names) for _, _, names, _ in surveys)
    print(f"{total} names surveyed")
    for label, namespace, names, ours in surveys:
        unknown = [name for name in names if not hasattr(namespace, name)]
        if unknown:
            print(f"not in {label}: {unknown}", file=sys.stderr)
            return 1
        missing = [name for name in names if not _has(ours, name)]
        print(f"{label}: {len(names) - len(missing)}/{len(names)} present; missing: {missing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
