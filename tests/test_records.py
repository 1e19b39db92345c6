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


def test_a_record_generates_only_the_methods_that_name_its_fields() -> None:
    shared = [Point.__eq__, Point.__hash__, Point.__repr__]
    assert shared == [Other.__eq__, Other.__hash__, Other.__repr__]  # one function each, for every record
    generated: list[object] = [Point.__init__, Point.__setattr__, Point.__delattr__]
    others: list[object] = [Other.__init__, Other.__setattr__, Other.__delattr__]
    assert all(mine is not theirs for mine, theirs in zip(generated, others, strict=True))


def _own(make: Callable[[type[Any]], type[Any]]) -> type[Any]:
    """A class that writes its own __repr__ and __eq__ (not __hash__), made by `make`."""

    class Own:  # noqa: PLW1641 - the decorator adds __hash__, which is what is tested
        x: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Own)

    return make(Own)


@pytest.mark.parametrize("make", [record, dataclass(frozen=True)], ids=["record", "dataclass"])
def test_a_method_the_class_writes_itself_stays_as_with_a_frozen_dataclass(
    make: Callable[[type[Any]], type[Any]],
) -> None:
    own = _own(make)
    assert repr(own(1)) == "own"
    assert own(1) == own(2)
    assert hash(own(1)) == hash((1,))  # the fields' hash is added, as the class writes no __hash__
