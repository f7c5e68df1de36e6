"""`Sequential`: modules applied one after another, registered as "0", "1", ..."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any, overload

from chainrule.nn.module import Module


class Sequential(Module):
    """y = modules[-1](... modules[1](modules[0](x))).

    Indexable (an int gives a module, a slice a new Sequential sharing the modules and
    keeping their names, as torch),
    iterable and sized; parameters are named "0.weight", "2.bias", ...

    Example:
        >>> model = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
        >>> len(model), type(model[1]).__name__
        (3, 'ReLU')
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end and return self."""
        if not isinstance(module, Module):
            raise TypeError(
                f"Sequential: every entry must be a Module, got {type(module).__name__}; wrap "
                "functions in a Module subclass (activations: ReLU(), Tanh(), Sigmoid())"
            )
        setattr(self, str(len(self._modules)), module)
        return self

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index: Any) -> Module | Sequential:
        if isinstance(index, slice):
            # As torch, the slice keeps each module's name: its state_dict keys are the
            # whole model's, so loading one into the other puts each value where it was.
            named = [(name, module) for name, module in self._modules.items() if module is not None]
            part = Sequential()
            for name, module in named[index]:
                setattr(part, name, module)
            return part
        try:
            position = operator.index(index)
        except TypeError:
            by_name = (
                f"; a module by its name is getattr(model, {index!r})"
                if isinstance(index, str)
                else ""
            )
            raise TypeError(
                f"Sequential: an index must be an int or a slice (as torch), got "
                f"{type(index).__name__} {index!r}{by_name}"
            ) from None
        modules = self._entries()
        if not -len(modules) <= position < len(modules):
            raise IndexError(
                f"Sequential: index {position} is out of range for {len(modules)} modules"
            )
        return modules[position]

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._entries())

    def _entries(self) -> list[Module]:
        """The modules in order; an entry set to None (`model[0]` as `model.0 = None`, as
        torch allows) holds nothing and is passed over."""
        return [module for module in self._modules.values() if module is not None]

    def forward(self, x: Any) -> Any:
        return self._run_in_order(self._modules.values(), x)
