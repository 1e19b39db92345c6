"""A record (runner/records.py) behaves as the frozen dataclass it stands for: the same equality, hash, repr
and refusal to change, with fewer methods generated."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from runner.records import record

# each test so marked runs once with @record and once with dataclasses' own frozen dataclass
BOTH = pytest.mark.parametrize("make", [record, dataclass(frozen=True)], ids=["record", "dataclass"])


@record
class Point:
    x: int
    y: int = 0
    at: str | None = field(default=None, compare=False)
    tags: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Frozen:  # the same fields as Point, made by dataclasses itself
    x: int
    y: int = 0
    at: str | None = field(default=None, compare=False)
    tags: tuple[str, ...] = field(default=(), repr=False)


@record
class Other:
    x: int
    y: int = 0


@record
class Empty:
    pass


@pytest.mark.parametrize(
    ("a", "b"),
    [((1, 2), (1, 2)), ((1, 2), (1, 3)), ((1, 2, "f:1"), (1, 2, "f:2")), ((1, 2, None, ("a",)), (1, 2))],
)
def test_equality_and_hash_are_a_frozen_dataclasses(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert (Point(*a) == Point(*b)) == (Frozen(*a) == Frozen(*b))
    assert (Point(*a) != Point(*b)) == (Frozen(*a) != Frozen(*b))
    if Point(*a) == Point(*b):
        assert hash(Point(*a)) == hash(Point(*b))
    assert len({Point(*a), Point(*b)}) == len({Frozen(*a), Frozen(*b)})


def test_a_record_never_equals_another_class_with_the_same_fields() -> None:
    point: object = Point(1, 2)
    assert point != Other(1, 2)
    assert point != (1, 2)
    assert point != Frozen(1, 2)
    assert Empty() == Empty() and hash(Empty()) == hash(Empty())


def test_the_repr_is_a_frozen_dataclasses() -> None:
    point, frozen = Point(1, 2, "f:1", ("a",)), Frozen(1, 2, "f:1", ("a",))
    assert repr(point) == repr(frozen).replace("Frozen", "Point") == "Point(x=1, y=2, at='f:1')"
    assert repr(Empty()) == "Empty()"


def test_the_docstring_is_a_frozen_dataclasses() -> None:
    # without one of its own: the class's name and signature, as dataclasses write it
    assert Point.__doc__ == (Frozen.__doc__ or "").replace("Frozen", "Point")
    assert Point.__doc__ == (
        "Point(x: 'int', y: 'int' = 0, at: 'str | None' = None, tags: 'tuple[str, ...]' = ())"
    )
    assert _made(record).__doc__ == _made(dataclass(frozen=True)).__doc__
    assert Empty.__doc__ == "Empty()"

    @record
    class Told:
        """Its own words."""

        x: int

    assert Told.__doc__ == "Its own words."


def test_a_record_refuses_to_change() -> None:
    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del point.x
    assert point.x == 1


def test_a_record_is_a_dataclass_for_replace_fields_and_pickle() -> None:
    point = Point(1, 2, "f:1")
    assert dataclasses.replace(point, y=3) == Point(1, 3)
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "at", "tags"]
    assert pickle.loads(pickle.dumps(point)) == point  # noqa: S301  # as runner.workers hands a project over
    assert dataclasses.asdict(point) == {"x": 1, "y": 2, "at": "f:1", "tags": ()}


def test_a_record_generates_only_the_method_that_names_its_fields() -> None:
    shared = [Point.__eq__, Point.__hash__, Point.__repr__, Point.__setattr__, Point.__delattr__]
    # one function each, for every record
    assert shared == [Other.__eq__, Other.__hash__, Other.__repr__, Other.__setattr__, Other.__delattr__]
    inits: list[object] = [Point.__init__, Other.__init__]
    assert inits[0] is not inits[1]
    assert Point.__init__.__qualname__ == "Point.__init__"


def _made(make: Callable[[type[Any]], type[Any]]) -> type[Any]:
    """A class with a default factory, fields not in `__init__` and a `__post_init__`, made by `make`."""

    class Made:
        name: str
        items: list[str] = field(default_factory=list)
        fixed: int = field(default=7, init=False)
        counted: list[int] = field(default_factory=list, init=False)
        seen: list[str] = field(default_factory=list, compare=False)

        def __post_init__(self) -> None:
            self.counted.append(len(self.items))

    return make(Made)


@BOTH
def test_defaults_factories_and_post_init_are_a_frozen_dataclasses(
    make: Callable[[type[Any]], type[Any]],
) -> None:
    made = _made(make)
    one, two = made("a"), made("b", ["x", "y"])
    assert (one.items, one.fixed, one.counted, two.items, two.counted) == ([], 7, [0], ["x", "y"], [2])
    assert one.items is not made("a").items  # a new list each time
    assert made("a", seen=["s"]) == made("a")
    with pytest.raises(TypeError):
        made("a", fixed=8)  # not a parameter
    with pytest.raises(TypeError):
        made()  # name is needed
    assert repr(made("a")).endswith("Made(name='a', items=[], fixed=7, counted=[0], seen=[])")


class Plain(Point):  # a plain class inheriting a record: its own names may be assigned, not the fields
    def remember(self) -> None:
        self.note = "kept"


def test_a_plain_subclass_of_a_record_may_assign_its_own_names_only() -> None:
    plain = Plain(1)
    plain.remember()
    assert plain.note == "kept"
    del plain.note
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.x = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Point(1).note = "no"  # type: ignore[attr-defined]


@record
class Inherited(Point):
    z: int = 3


def test_a_record_inheriting_a_record_has_both_fields() -> None:
    value = Inherited(1, 2, z=4)
    assert (value.x, value.y, value.z) == (1, 2, 4)
    assert repr(value) == "Inherited(x=1, y=2, at=None, z=4)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.z = 5  # type: ignore[misc]


def _own(make: Callable[[type[Any]], type[Any]]) -> type[Any]:
    """A class that writes its own __repr__ and __eq__ (not __hash__), made by `make`."""

    class Own:  # noqa: PLW1641 - the decorator adds __hash__, which is what is tested
        x: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Own)

    return make(Own)


@BOTH
def test_a_method_the_class_writes_itself_stays_as_with_a_frozen_dataclass(
    make: Callable[[type[Any]], type[Any]],
) -> None:
    own = _own(make)
    assert repr(own(1)) == "own"
    assert own(1) == own(2)
    assert hash(own(1)) == hash((1,))  # the fields' hash is added, as the class writes no __hash__
