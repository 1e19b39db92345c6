"""The spec's `expect:` block held against Infiniti's answer. Every unmet expectation is listed."""

from __future__ import annotations

from collections.abc import Sequence

from runner.answer import Answer
from runner.numbers import number, plural
from runner.records import record
from runner.spec import COUNTS, DEFAULT_FAILED, DEFAULT_SUCCESS, CountExpectation, Expect


@record
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
        return f"{name}: expected rows_sent ({number(sent)}), got {number(got)}"
    if want.exact is not None and got != want.exact:
        return f"{name}: expected {number(want.exact)}, got {number(got)}"
    if want.min is not None and got < want.min.of(sent):
        return f"{name}: expected at least {want.min}{_of(want.min.percent, sent)}, got {number(got)}"
    if want.max is not None and got > want.max.of(sent):
        return f"{name}: expected at most {want.max}{_of(want.max.percent, sent)}, got {number(got)}"
    return None


def _of(percent: bool, sent: int) -> str:
    return f" of {plural(sent, 'row')} sent" if percent else ""


def unmet(expect: Expect, answer: Answer, sent: int, failed: Sequence[FailedRow]) -> list[str]:
    """What the answer shows that the spec did not expect (empty: all expectations hold).

    `success` and `failed` keep their defaults (true, 0) unless the spec names them itself, whatever else
    it names. `success: true` also holds when every failed row is tolerated by `failures.allow`, and the
    default `failed: 0` does not count tolerated rows.
    """
    tolerated = sum(1 for f in failed if f.tolerated) if expect.allow is not None else 0
    problems = [_success(expect, answer, failed, tolerated)]
    for name in COUNTS:
        want = expect.counts.get(name)
        if want is not None:
            problems.append(_count(name, want, getattr(answer.counts, name), sent, answer))
        elif name == "failed":
            problems.append(_default_failed(answer, sent, tolerated))
    problems.append(_refused(expect, failed))
    return [p for p in problems if p]


def _success(expect: Expect, answer: Answer, failed: Sequence[FailedRow], tolerated: int) -> str | None:
    """The success flag against the spec's (or the default): failures all tolerated count as success."""
    want = DEFAULT_SUCCESS if expect.success is None else expect.success
    effective = answer.success or (bool(failed) and tolerated == len(failed))
    if effective == want:
        return None
    return f"success: expected {str(want).lower()}, got {str(answer.success).lower()}"


def _default_failed(answer: Answer, sent: int, tolerated: int) -> str | None:
    """`failed: 0` when the spec names no failed count, the rows tolerated by failures.allow set aside."""
    got = answer.counts.failed
    if got is None or not tolerated:
        return _count("failed", DEFAULT_FAILED, got, sent, answer)
    if got <= tolerated:
        return None
    besides = f"besides the {plural(tolerated, 'row')} tolerated by failures.allow"
    return f"failed: expected 0 {besides}, got {number(got)}"


def _refused(expect: Expect, failed: Sequence[FailedRow]) -> str | None:
    """The failed rows that `failures.allow`, when the spec gives one, does not tolerate."""
    refused = [f for f in failed if not f.tolerated]
    if expect.allow is None or not refused:
        return None
    rows = plural(len(refused), "failed row")
    return f"failures: {rows} not tolerated by failures.allow: {expect.allow.pattern}"
