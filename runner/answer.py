"""Infiniti's answer: the JSON result of an import, read as the contract describes it.

    {"success": false,
     "summary": "3 users processed. 1 user created. 1 user updated. 1 user failed.",
     "details": {"1": "User Updated", "2": "Field (emailAddress) is not ...", "3": "User Created"}}

`success` and `summary` are required; `details` (data row number -> outcome) comes only when a row failed.
Without `details`, an answer confirms the lines of its request only when its summary counts each one as
created or updated; one that confirms fewer confirms none, since it does not say which.
Summary counts whose wording is unknown stay unknown rather than guessed. An answer that is not such JSON
(an HTML error page, a proxy's login page) is an outside failure reported with its status and an excerpt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from runner.client import Response, excerpt
from runner.contract import (
    CONTACT_CREATED,
    CONTACT_UPDATED,
    UNAUTHORISED,
    USER_CREATED,
    USER_UPDATED,
    Counts,
    parse_summary,
)
from runner.errors import AuthError, InfinitiError, Where
from runner.numbers import number, plural
from runner.records import record
from runner.spec import COUNTS

ACCEPTED = frozenset({USER_CREATED, USER_UPDATED, CONTACT_CREATED, CONTACT_UPDATED})


@record
class Answer:
    """One import's result: success flag, summary counts and per-row outcomes (row number from 1)."""

    success: bool
    summary: str
    counts: Counts
    details: Mapping[int, str] = field(default_factory=dict)

    def outcome(self, row: int) -> str | None:
        """The outcome of data row `row`, when the answer lists it."""
        return self.details.get(row)


def parse(response: Response, *, where: Where, user: str, url: str) -> Answer:
    """Read Infiniti's HTTP answer, or raise InfinitiError / AuthError saying what came back instead."""
    document = _json(response)
    if response.status == 401 or (isinstance(document, dict) and document.get("summary") == UNAUTHORISED):
        raise AuthError(
            f"Infiniti at {url} refused the credentials of user {user!r} (HTTP {response.status}: "
            f"{_summary_text(document, response)})",
            where=where,
            hint="check the tenant's password secret, and that the account has system administration "
            "privileges in Infiniti",
            status=response.status,
        )
    if 300 <= response.status < 400:
        target = response.location or "no Location given"
        raise InfinitiError(
            f"Infiniti at {url} answered HTTP {response.status}, a redirect to {target}",
            where=where,
            hint="the import is never redirected: if that address is Infiniti's, make it the tenant's url; "
            "a login page means something in between (a proxy, single sign-on) answered instead",
            status=response.status,
        )
    if response.status != 200:
        said = _summary_text(document, response) + (f" ({response.gave_up})" if response.gave_up else "")
        raise InfinitiError(
            f"Infiniti at {url} answered HTTP {response.status}: {said}",
            where=where,
            status=response.status,
        )
    if document is None:
        raise _unreadable(response, url, where, "a body that is not JSON")
    if not isinstance(document, dict) or not isinstance(document.get("success"), bool):
        raise _unreadable(response, url, where, "JSON without a success flag")
    summary = document.get("summary")
    details = document.get("details") or {}
    if not isinstance(summary, str) or not isinstance(details, dict):
        raise _unreadable(response, url, where, "JSON of an unexpected shape")
    return Answer(document["success"], summary, parse_summary(summary), _details(details))


def _json(response: Response) -> Any:
    try:
        return json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _summary_text(document: Any, response: Response) -> str:
    if isinstance(document, dict) and isinstance(document.get("summary"), str):
        return str(document["summary"])
    return _shown(response)


def _shown(response: Response) -> str:
    kind = response.content_type.split(";")[0].strip() or "no content type"
    body = excerpt(response.body) if response.body else "(empty body)"
    return f"{kind}: {body}"


def _unreadable(response: Response, url: str, where: Where, what: str) -> InfinitiError:
    return InfinitiError(
        f"Infiniti at {url} answered HTTP {response.status} with {what}, not an import result: "
        f"{_shown(response)}",
        where=where,
        hint="check the tenant's url: a proxy or login page may be answering instead of Infiniti",
        status=response.status,
    )


def _details(raw: Mapping[str, Any]) -> dict[int, str]:
    details: dict[int, str] = {}
    for key, value in raw.items():
        try:
            details[int(key)] = str(value)
        except ValueError:
            continue
    return details


def merge(answers: Sequence[Answer], sizes: Sequence[int]) -> Answer:
    """One answer for a file sent in batches of `sizes` rows: counts summed, rows renumbered."""
    if len(answers) == 1:
        return answers[0]
    details: dict[int, str] = {}
    offset = 0
    for answer, size in zip(answers, sizes, strict=True):
        details.update({offset + row: outcome for row, outcome in answer.details.items()})
        offset += size
    counts = {
        name: None
        if any(getattr(a.counts, name) is None for a in answers)
        else sum(getattr(a.counts, name) for a in answers)
        for name in COUNTS
    }
    summary = " | ".join(a.summary for a in answers)
    return Answer(all(a.success for a in answers), summary, Counts(**counts), details)


def is_failure(outcome: str) -> bool:
    """Whether a row outcome means the user was not imported."""
    return outcome not in ACCEPTED


def unaccepted(answer: Answer, rows: int) -> set[int]:
    """The lines (1 to `rows`) of one request that the answer does not confirm as imported.

    With `details`, a line is accepted only when listed as created or updated. Without them, every line is
    accepted only when the summary confirms every one (see `_why_unconfirmed`); otherwise none is, since the
    answer does not say which were imported.
    """
    if answer.details:
        return {line for line in range(1, rows + 1) if is_failure(answer.details.get(line, ""))}
    return set() if _why_unconfirmed(answer, rows) is None else set(range(1, rows + 1))


def _why_unconfirmed(answer: Answer, rows: int) -> str | None:
    """Why an answer without `details` does not confirm each of the `rows` lines sent (None: it does).

    It does only when it reports success and its summary counts every line: processed = lines sent =
    created + updated, and failed = 0. A count whose wording is unknown confirms nothing.
    """
    if rows == 0:
        return None
    sent, c = _lines(rows, "sent"), answer.counts
    if not answer.success:
        return f"the answer does not confirm the {sent} (no success, no rows listed)"
    if c.processed is None or c.created is None or c.updated is None or c.failed is None:
        unknown = next(name for name in COUNTS if getattr(c, name) is None)
        said = f"its summary gives no {unknown} count: {answer.summary!r}"
        return f"the answer does not confirm the {sent} ({said})"
    imported = c.created + c.updated
    if c.processed == rows == imported and c.failed == 0:
        return None
    if imported < rows and imported <= c.processed:
        return f"the answer confirms {number(imported)} of the {sent}" + (
            ", without saying which" if imported else ""
        )
    return (
        f"the answer's counts ({number(c.processed)} processed, {number(imported)} created or updated, "
        f"{number(c.failed)} failed, no rows listed) do not match the {sent}"
    )


def _lines(count: int, what: str) -> str:
    return f"{plural(count, 'line')} {what}"


def unconfirmed(batches: Sequence[tuple[Answer, int]]) -> list[str]:
    """Why lines of the batches sent (each answer with its line count) are not recorded as synced, besides
    the failed rows their answers list: an answer without `details` that does not confirm every line of
    its batch, or one with `details` that gives no outcome for some lines. Empty: every line is accounted
    for."""
    problems: list[str] = []
    first = 1
    for batch, (answer, rows) in enumerate(batches, 1):
        where = f"batch {batch} of {len(batches)} (lines {first} to {first + rows - 1}): "
        prefix = where if len(batches) > 1 else ""
        if not answer.details:
            problem = _why_unconfirmed(answer, rows)
            if problem:
                problems.append(f"{prefix}{problem}; {_not_recorded(rows, all_of=True)}")
        else:
            missing = [line for line in range(1, rows + 1) if line not in answer.details]
            if missing:
                problems.append(f"{prefix}{_unlisted(missing, rows, first)}; {_not_recorded(len(missing))}")
        first += rows
    return problems


def _unlisted(missing: Sequence[int], rows: int, first: int) -> str:
    """The lines (of a batch starting at line `first` of the file) an answer with details does not list."""
    numbers = [str(first + line - 1) for line in missing[:5]] + (["..."] if len(missing) > 5 else [])
    which = f"line {numbers[0]}" if len(missing) == 1 else f"lines {', '.join(numbers)}"
    return f"the answer lists no outcome for {number(len(missing))} of the {_lines(rows, 'sent')} ({which})"


def _not_recorded(count: int, all_of: bool = False) -> str:
    if count == 1:
        return "it is not recorded as synced, the next run sends it again"
    subject = "none of them is" if all_of else "they are not"
    return f"{subject} recorded as synced, the next run sends them again"


_REPEATED = re.compile(r"(?P<reason>.+?)\s*User failed to import:\s*(?P=reason)\s*", re.DOTALL)


def reason(outcome: str) -> str:
    """A row outcome said once: Infiniti words a failure "REASON User failed to import: REASON "."""
    match = _REPEATED.fullmatch(outcome.strip())
    return match.group("reason") if match else outcome.strip()


_UNDEFINED_GROUP = re.compile(r"(?P<kind>Library|System) group \((?P<name>.*)\) is not defined\.")


def hint(outcome: str) -> str | None:
    """What to do about a failed row's outcome, when its wording says what: a group Infiniti does not
    define (the pre-checks let it through, so the spec's `groups` lists it)."""
    match = _UNDEFINED_GROUP.fullmatch(reason(outcome))
    if match is None:
        return None
    kind, name = match["kind"].lower(), match["name"]
    return (
        f"the spec's groups.{kind} lists {name!r}, which Infiniti does not define: create that {kind} "
        f"group in Infiniti (it imports users only into groups defined there), or take it out of "
        f"groups.{kind} so that the pre-checks leave such rows out"
    )
