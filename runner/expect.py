"""The spec's `expect:` block held against Infiniti's answer. Every unmet expectation is listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner.answer import Answer
from runner.spec import COUNTS, CountExpectation, Expect


@dataclass(frozen=True)
class FailedRow:
    """A row Infiniti did not import, traced back to the file and the source."""

    line: int
    source_row: int | None
    username: str | None
    outcome: str
    tolerated: bool = False


def _count(name: str, want: CountExpectation, got: int | None, sent: int, answer: Answer) -> str | None:
    if got is None:
        return f"{name}: expected {want}, but the answer's summary gives no {name} count ({answer.summary!r})"
    if want.rows_sent and got != sent:
        return f"{name}: expected rows_sent ({sent}), got {got}"
    if want.exact is not None and got != want.exact:
        return f"{name}: expected {want.exact}, got {got}"
    if want.min is not None and got < want.min.of(sent):
        return f"{name}: expected at least {want.min}{_of(want.min.percent, sent)}, got {got}"
    if want.max is not None and got > want.max.of(sent):
        return f"{name}: expected at most {want.max}{_of(want.max.percent, sent)}, got {got}"
    return None


def _of(percent: bool, sent: int) -> str:
    return f" of {sent} rows sent" if percent else ""


def unmet(expect: Expect, answer: Answer, sent: int, failed: Sequence[FailedRow]) -> list[str]:
    """What the answer shows that the spec did not expect (empty: all expectations hold).

    With no `expect:` at all, the answer must report success. `success: true` also holds when every failed
    row is tolerated by `failures.allow`.
    """
    problems: list[str] = []
    success = expect.success
    if success is None and not expect.counts and expect.allow is None:
        success = True
    if success is not None:
        tolerated = expect.allow is not None and bool(failed) and all(f.tolerated for f in failed)
        effective = answer.success or tolerated
        if effective != success:
            problems.append(f"success: expected {str(success).lower()}, got {str(answer.success).lower()}")
    for name in COUNTS:
        want = expect.counts.get(name)
        if want is not None:
            problem = _count(name, want, getattr(answer.counts, name), sent, answer)
            if problem:
                problems.append(problem)
    if expect.allow is not None:
        refused = [f for f in failed if not f.tolerated]
        if refused:
            problems.append(
                f"failures: {len(refused)} failed row{'s' if len(refused) != 1 else ''} not tolerated by "
                f"failures.allow: {expect.allow.pattern}"
            )
    return problems
