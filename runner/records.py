"""Records: the project's immutable values (a loaded spec, a finding, an answer, a report), each a dataclass
that refuses assignment, compares and hashes by its fields, and shows them in its repr.

`@record` is `@dataclass(frozen=True)` for about a third less of the cost of defining the class (0.6 ms
against 0.8 to 0.9 for a class of five fields, on Python 3.11). Python 3.11's dataclasses compile each
method they generate on its own (an `exec` of its source, about 0.1 ms): a frozen class gets six
(`__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__`, `__delattr__`), and a `run` process defines
some fifty such classes before its first row. The three that only read the fields (`__eq__`, `__hash__`,
`__repr__`) work the same for every class, so here they are shared functions that read the names of the
fields the class keeps; only the three that must name the fields or the class in their code are still
generated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[_T]) -> type[_T]:
    """`cls` as a frozen dataclass, with the same equality, hash and repr as `dataclass(frozen=True)`
    makes: by the fields that compare (`field(compare=False)` aside), and showing those with `repr`."""
    made = dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)
    fields = dataclasses.fields(made)  # type: ignore[arg-type]  # a dataclass by now
    made.__record_compared__ = tuple(f.name for f in fields if f.compare)  # type: ignore[attr-defined]
    made.__record_hashed__ = tuple(  # type: ignore[attr-defined]
        f.name for f in fields if (f.compare if f.hash is None else f.hash)
    )
    made.__record_shown__ = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
    own = vars(cls)
    for name, method in _SHARED.items():
        # as dataclasses do, a method the class writes itself stays (a __hash__ of None is Python's, set
        # because the class writes __eq__: dataclasses then add theirs)
        if name not in own or (name == "__hash__" and own[name] is None):
            setattr(made, name, method)
    return made


def _values(value: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(value, name) for name in names)


def _eq(self: Any, other: Any) -> Any:
    """Equal when of the same class and equal in every compared field, as a dataclass's `__eq__`."""
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = self.__record_compared__
    return _values(self, names) == _values(other, names)


def _hash(self: Any) -> int:
    return hash(_values(self, self.__record_hashed__))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_shown__)
    return f"{self.__class__.__qualname__}({shown})"


_SHARED: dict[str, Callable[..., Any]] = {"__eq__": _eq, "__hash__": _hash, "__repr__": _repr}
