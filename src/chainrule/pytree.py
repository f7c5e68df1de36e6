"""Pytrees: nested dicts, lists and tuples whose leaves are arrays, Tensors or numbers.

`tree_flatten` lists a tree's leaves in a fixed order (dict keys sorted, as JAX sorts them)
beside a `TreeDef` of its structure; `tree_unflatten` builds that structure around new leaves,
which is how a gradient comes back shaped like its argument. A rebuilt dict lists its keys in
the order the flattened one did (as torch.func's results do), so zipping a gradient's values
with its argument's pairs each leaf with its own gradient. None is an empty node (it holds no
leaf and comes back as None); named tuples keep their type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree: `node_type` None for a leaf, else the container's type
    (dict, list, tuple, a named tuple's class, or NoneType), its sorted `keys` for a dict, and
    the structure of each child in leaf order. `key_order` is a dict's keys in its own order,
    the order a rebuilt dict takes; it is left out of comparisons, as dict equality ignores
    order (a cotangent dict matches an output dict whatever the order of either)."""

    node_type: type | None
    keys: tuple[Any, ...] = ()
    children: tuple[TreeDef, ...] = ()
    key_order: tuple[Any, ...] = field(default=(), compare=False)

    @property
    def num_leaves(self) -> int:
        if self.node_type is None:
            return 1
        return sum(child.num_leaves for child in self.children)

    def paths(self) -> list[str]:
        """Where each leaf sits, in leaf order, written as indexing: ``['w1']``, ``[0][2]``,
        and the empty string for a tree that is one leaf."""
        return list(self._paths(""))

    def _paths(self, prefix: str) -> Iterator[str]:
        if self.node_type is None:
            yield prefix
            return
        labels = self.keys if self.node_type is dict else range(len(self.children))
        for label, child in zip(labels, self.children, strict=True):
            yield from child._paths(f"{prefix}[{label!r}]")

    def __str__(self) -> str:
        if self.node_type is None:
            return "*"
        if self.node_type is type(None):
            return "None"
        if self.node_type is dict:
            items = ", ".join(
                f"{key!r}: {child}" for key, child in zip(self.keys, self.children, strict=True)
            )
            return "{" + items + "}"
        items = ", ".join(str(child) for child in self.children)
        if self.node_type is list:
            return f"[{items}]"
        if self.node_type is tuple:
            return f"({items},)" if len(self.children) == 1 else f"({items})"
        return f"{self.node_type.__name__}({items})"


def _is_named_tuple(tree: Any) -> bool:
    return isinstance(tree, tuple) and hasattr(type(tree), "_fields")


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of `tree` in order, and its structure. Dicts, lists, tuples (named ones
    too) and None are nodes; anything else is a leaf."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> TreeDef:
    if tree is None:
        return TreeDef(type(None))
    if type(tree) is dict:
        try:
            keys = tuple(sorted(tree))
        except TypeError:
            raise TypeError(
                f"pytree: the dict keys {list(tree)} cannot be sorted, and a dict's leaves "
                "are ordered by sorted key (as in JAX); use keys of one type, e.g. all str"
            ) from None
        children = tuple(_flatten(tree[key], leaves) for key in keys)
        return TreeDef(dict, keys, children, key_order=tuple(tree))
    if type(tree) in (list, tuple) or _is_named_tuple(tree):
        return TreeDef(type(tree), (), tuple(_flatten(child, leaves) for child in tree))
    leaves.append(tree)
    return TreeDef(None)


def tree_unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    """The tree of structure `treedef` holding `leaves` (in `tree_flatten`'s order)."""
    if len(leaves) != treedef.num_leaves:
        raise ValueError(
            f"tree_unflatten: the structure {treedef} holds {treedef.num_leaves} leaves "
            f"but {len(leaves)} were given"
        )
    return _unflatten(treedef, iter(leaves))


def _unflatten(treedef: TreeDef, leaves: Iterator[Any]) -> Any:
    node_type = treedef.node_type
    if node_type is None:
        return next(leaves)
    if node_type is type(None):
        return None
    children = [_unflatten(child, leaves) for child in treedef.children]
    if node_type is dict:
        by_key = dict(zip(treedef.keys, children, strict=True))
        return {key: by_key[key] for key in treedef.key_order or treedef.keys}
    if node_type is list:
        return children
    if node_type is tuple:
        return tuple(children)
    return node_type(*children)


def tree_map(function: Callable[[Any], Any], tree: Any) -> Any:
    """`tree` with `function` applied to each leaf."""
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [function(leaf) for leaf in leaves])


__all__ = ["TreeDef", "tree_flatten", "tree_map", "tree_unflatten"]
