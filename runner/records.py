"""Records: the project's immutable values (a loaded spec, a finding, an answer, a report), each a dataclass
that refuses assignment, compares and hashes by its fields, and shows them in its repr.

`@record` is `@dataclass(frozen=True)` for about a quarter of the cost of defining the class, on Python
3.11: the 44 classes a `run` process defines before its first row take 9 ms here, 23 ms with three methods
generated a class, and dataclasses generate six (`__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__`, `__delattr__`), each compiled on its own (an `exec` of its source, about 0.1 ms). Here
dataclasses only collect the fields; the five methods that name no field in their code (equality, hash,
repr, and the refusals to assign or delete, which read the names of the fields the class keeps) are shared
functions, and only `__init__`, which must name the fields, is generated: one `exec` a class.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[_T]) -> type[_T]:
    """`cls` as a frozen dataclass, with the same equality, hash, repr and refusal to change as
    `dataclass(frozen=True)` makes: by the fields that compare (`field(compare=False)` aside), and showing
    those with `repr`."""
    # a class without a docstring gets dataclasses' own (its name and its signature) once its __init__ is
    # made: dataclasses would ask for the signature first, of object's __init__ (init=False), which parses
    # a text signature with the tokenize module, compiling its regular expressions (5 ms a process)
    undocumented = not cls.__doc__
    if undocumented:
        cls.__doc__ = cls.__name__
    made = dataclasses.dataclass(init=False, eq=False, repr=False)(cls)
    fields = dataclasses.fields(made)  # type: ignore[arg-type]  # a dataclass by now
    made.__record_fields__ = frozenset(f.name for f in fields)  # type: ignore[attr-defined]
    made.__record_compared__ = tuple(f.name for f in fields if f.compare)  # type: ignore[attr-defined]
    made.__record_hashed__ = tuple(  # type: ignore[attr-defined]
        f.name for f in fields if (f.compare if f.hash is None else f.hash)
    )
    made.__record_shown__ = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
    own = vars(cls)
    if "__init__" not in own:
        made.__init__ = _init(made, fields)  # type: ignore[method-assign]
    if undocumented:
        made.__doc__ = cls.__name__ + str(inspect.signature(made)).replace(" -> None", "")
    for name, method in _SHARED.items():
        # as dataclasses do, a method the class writes itself stays (a __hash__ of None is Python's, set
        # because the class writes __eq__: dataclasses then add theirs)
        if name not in own or (name == "__hash__" and own[name] is None):
            setattr(made, name, method)
    return made


def _init(cls: type[Any], fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """The `__init__` a frozen dataclass would have: each field set past the refusal to assign, a
    default factory called when its field is not given, then `__post_init__` if the class has one."""
    names: dict[str, Any] = {"__record_set__": object.__setattr__, "__record_factory__": _FACTORY}
    params, body = [], []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            names[f"__record_{f.name}__"] = f.default_factory
            value = f"__record_{f.name}__()"
            if f.init:
                params.append(f"{f.name}=__record_factory__")
                value = f"{value} if {f.name} is __record_factory__ else {f.name}"
        elif f.default is not dataclasses.MISSING:
            names[f"__record_{f.name}__"] = f.default
            if f.init:
                params.append(f"{f.name}=__record_{f.name}__")
            value = f.name if f.init else f"__record_{f.name}__"
        elif f.init:
            params.append(f.name)
            value = f.name
        else:
            continue
        body.append(f"__record_set__(__record_self__, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("__record_self__.__post_init__()")
    source = f"def __init__(__record_self__, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    exec(source, names)  # noqa: S102 - built from the class's field names
    init: Callable[..., None] = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {f.name: f.type for f in fields if f.init} | {"return": None}
    return init


class _Factory:
    """The default of a field made by a default factory: not given."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _setattr(self: Any, name: str, value: Any) -> None:
    """As a frozen dataclass's `__setattr__`: its fields, and any name of the record class itself, cannot
    be assigned (a plain subclass may assign names of its own)."""
    super(_unfrozen(self, name, "assign to"), self).__setattr__(name, value)


def _delattr(self: Any, name: str) -> None:
    """As a frozen dataclass's `__delattr__`."""
    super(_unfrozen(self, name, "delete"), self).__delattr__(name)


def _unfrozen(value: Any, name: str, doing: str) -> type[Any]:
    """The nearest record class of `value`'s class, when `name` is not frozen there: a name of a plain
    subclass's own; else FrozenInstanceError, as dataclasses raise it."""
    owner: type[Any] = next(c for c in type(value).__mro__ if "__record_fields__" in vars(c))
    if owner is type(value) or name in owner.__record_fields__:
        raise dataclasses.FrozenInstanceError(f"cannot {doing} field {name!r}")
    return owner


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


_SHARED: dict[str, Callable[..., Any]] = {
    "__eq__": _eq,
    "__hash__": _hash,
    "__repr__": _repr,
    "__setattr__": _setattr,
    "__delattr__": _delattr,
}
