"""Reading Infiniti's answers and holding them to a spec's expectations (pure functions, exact messages)."""

from __future__ import annotations

import json
import re

import pytest

from runner import schema
from runner.answer import Answer, hint, merge, parse, reason, unaccepted, unconfirmed
from runner.client import Response, _retry_after
from runner.contract import (
    BAD_EMAIL,
    Counts,
    parse_summary,
    summary,
    undefined_library_group,
    undefined_system_group,
)
from runner.errors import AuthError, InfinitiError, Where
from runner.expect import FailedRow, unmet
from runner.spec import DEFAULT_FAILED, DEFAULT_SUCCESS, Amount, CountExpectation, Expect

WHERE = Where(tenant="stmarys", spec="students")
URL = "https://stmarys.example"


def response(status: int, body: object, content_type: str = "application/json") -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status=status, body=raw, content_type=content_type, attempts=1, seconds=0.1)


def read(status: int, body: object, content_type: str = "application/json") -> Answer:
    return parse(response(status, body, content_type), where=WHERE, user="autosync", url=URL)


def test_the_contracts_success_example() -> None:
    answer = read(
        200,
        {
            "success": True,
            "summary": "100 users processed. 50 users created. 50 users updated. 0 users failed.",
        },
    )
    assert answer == Answer(True, answer.summary, Counts(100, 50, 50, 0), {})


def test_the_contracts_failure_example_with_details() -> None:
    body = {
        "success": False,
        "summary": "3 users processed. 1 user created. 1 user updated. 1 user failed.",
        "details": {"1": "User Updated", "2": BAD_EMAIL, "3": "User Created"},
    }
    answer = read(200, body)
    assert answer.counts == Counts(3, 1, 1, 1)
    assert answer.details == {1: "User Updated", 2: BAD_EMAIL, 3: "User Created"}


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("1 user processed. 1 user created. 0 users updated. 0 users failed.", Counts(1, 1, 0, 0)),
        ("0 users processed. 0 users created. 0 users updated. 0 users failed.", Counts(0, 0, 0, 0)),
        ("2 users processed. 2 users updated.", Counts(2, None, 2, None)),
        ("Import complete: 12 records.", Counts()),
    ],
)
def test_summary_counts_singular_plural_and_unknown(text: str, counts: Counts) -> None:
    assert parse_summary(text) == counts


def test_summary_wording_round_trips() -> None:
    assert summary(1, 0, 1, 0) == "1 user processed. 0 users created. 1 user updated. 0 users failed."
    assert parse_summary(summary(7, 3, 4, 1)) == Counts(7, 3, 4, 1)


def test_http_401_names_tenant_and_user() -> None:
    with pytest.raises(AuthError) as caught:
        read(401, {"success": False, "summary": "Unauthorised. Check credentials."})
    assert str(caught.value) == (
        "tenant stmarys, spec students: Infiniti at https://stmarys.example refused the credentials of user "
        "'autosync' (HTTP 401: Unauthorised. Check credentials.)\n"
        "  hint: check the tenant's password secret, and that the account has system administration "
        "privileges in Infiniti"
    )
    assert caught.value.exit_code == 3


def test_unauthorised_with_status_200_is_still_an_auth_failure() -> None:
    with pytest.raises(AuthError):
        read(200, {"success": False, "summary": "Unauthorised. Check credentials."})


def test_html_answer_is_reported_with_status_and_excerpt() -> None:
    with pytest.raises(InfinitiError) as caught:
        read(200, b"<html>\n<body>Please   log in</body></html>", "text/html; charset=utf-8")
    assert caught.value.message == (
        "Infiniti at https://stmarys.example answered HTTP 200 with a body that is not JSON, not an "
        "import result: text/html: <html> <body>Please log in</body></html>"
    )
    assert caught.value.exit_code == 3


def test_json_of_another_shape_is_not_an_import_result() -> None:
    with pytest.raises(InfinitiError) as caught:
        read(200, {"status": "ok"})
    assert caught.value.message == (
        "Infiniti at https://stmarys.example answered HTTP 200 with JSON without a success flag, not an "
        'import result: application/json: {"status": "ok"}'
    )


def test_server_error_shows_its_status() -> None:
    with pytest.raises(InfinitiError) as caught:
        read(500, b"Internal Server Error", "text/plain")
    assert caught.value.message == (
        "Infiniti at https://stmarys.example answered HTTP 500: text/plain: Internal Server Error"
    )
    assert caught.value.status == 500


def test_long_bodies_are_cut() -> None:
    with pytest.raises(InfinitiError) as caught:
        read(502, b"x" * 1000, "text/html")
    assert caught.value.message.endswith("x" * 299 + "…")


def test_merge_renumbers_batches_and_sums_counts() -> None:
    first = Answer(True, summary(2, 2, 0, 0), Counts(2, 2, 0, 0), {})
    second = Answer(False, summary(2, 0, 1, 1), Counts(2, 0, 1, 1), {1: "User Updated", 2: BAD_EMAIL})
    merged = merge([first, second], [2, 2])
    assert (merged.success, merged.counts) == (False, Counts(4, 2, 1, 1))
    assert merged.details == {3: "User Updated", 4: BAD_EMAIL}


def test_merge_keeps_unknown_counts_unknown() -> None:
    known = Answer(True, "1 user processed.", Counts(1, None, None, None), {})
    assert merge([known, known], [1, 1]).counts == Counts(2, None, None, None)


@pytest.mark.parametrize(("value", "seconds"), [("3", 3.0), (None, None), ("soon", None), ("", None)])
def test_retry_after_in_seconds(value: str | None, seconds: float | None) -> None:
    assert _retry_after(value) == seconds


def test_retry_after_as_a_date_in_the_past_means_now() -> None:
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


OK = Answer(True, summary(10, 4, 6, 0), Counts(10, 4, 6, 0), {})
FAILED = Answer(False, summary(10, 4, 5, 1), Counts(10, 4, 5, 1), {7: BAD_EMAIL})
EMAIL_ROW = FailedRow(line=7, source_row=9, username="s007", outcome=BAD_EMAIL)
TOLERATED = FailedRow(line=7, source_row=9, username="s007", outcome=BAD_EMAIL, tolerated=True)
SUCCESS_UNMET = "success: expected true, got false"


def expect(**counts: object) -> Expect:
    success = counts.pop("success", None)
    allow = counts.pop("allow", None)
    return Expect(
        success=success,  # type: ignore[arg-type]
        counts={k: CountExpectation.parse(v) for k, v in counts.items()},  # type: ignore[arg-type]
        allow=re.compile(allow) if isinstance(allow, str) else None,
    )


@pytest.mark.parametrize(
    ("rules", "answer", "failed", "problems"),
    [
        ({}, OK, [], []),
        ({}, FAILED, [EMAIL_ROW], ["success: expected true, got false", "failed: expected 0, got 1"]),
        ({"success": True, "failed": 0, "processed": "rows_sent"}, OK, [], []),
        ({"processed": "rows_sent"}, OK, [], []),
        ({"created": {"max": 3}}, OK, [], ["created: expected at most 3, got 4"]),
        ({"created": {"min": 5}}, OK, [], ["created: expected at least 5, got 4"]),
        ({"updated": {"max": "50%"}}, OK, [], ["updated: expected at most 50% of 10 rows sent, got 6"]),
        # naming some keys keeps the defaults of the others: success true, failed 0
        ({"processed": "rows_sent"}, FAILED, [EMAIL_ROW], [SUCCESS_UNMET, "failed: expected 0, got 1"]),
        ({"created": {"max": 25}}, FAILED, [EMAIL_ROW], [SUCCESS_UNMET, "failed: expected 0, got 1"]),
        ({"failed": {"max": "10%"}}, FAILED, [EMAIL_ROW], [SUCCESS_UNMET]),
        ({"failed": 0}, FAILED, [EMAIL_ROW], [SUCCESS_UNMET, "failed: expected 0, got 1"]),
        ({"success": False}, FAILED, [EMAIL_ROW], ["failed: expected 0, got 1"]),
        ({"success": False}, OK, [], ["success: expected false, got true"]),
        # failures.allow is the way to accept known failures, with or without the keys named
        ({"allow": "emailAddress"}, FAILED, [TOLERATED], []),
        ({"failed": {"max": "10%"}, "allow": "."}, FAILED, [TOLERATED], []),
        (
            {"allow": "emailAddress"},
            Answer(False, summary(10, 4, 4, 2), Counts(10, 4, 4, 2), {7: BAD_EMAIL}),
            [TOLERATED],
            ["failed: expected 0 besides the 1 row tolerated by failures.allow, got 2"],
        ),
        (
            {"success": True, "allow": "emailAddress"},
            FAILED,
            [FailedRow(7, 9, "s007", BAD_EMAIL, tolerated=True)],
            [],
        ),
        (
            {"allow": "group"},
            FAILED,
            [EMAIL_ROW],
            [
                SUCCESS_UNMET,
                "failed: expected 0, got 1",
                "failures: 1 failed row not tolerated by failures.allow: group",
            ],
        ),
        (
            {"success": True, "allow": "emailAddress"},
            Answer(False, "Import failed.", Counts(), {}),
            [],
            [
                SUCCESS_UNMET,
                "failed: expected 0, but the answer's summary gives no failed count ('Import failed.')",
            ],
        ),
    ],
)
def test_expectations(
    rules: dict[str, object], answer: Answer, failed: list[FailedRow], problems: list[str]
) -> None:
    assert unmet(expect(**rules), answer, 10, failed) == problems


def test_an_unknown_count_fails_an_expectation_on_it_with_the_reason() -> None:
    odd = Answer(True, "Import complete: 10 records.", Counts(), {})
    no_failed = (
        "failed: expected 0, but the answer's summary gives no failed count ('Import complete: 10 records.')"
    )
    assert unmet(expect(created={"max": 5}), odd, 10, []) == [
        "created: expected max 5, but the answer's summary gives no created count "
        "('Import complete: 10 records.')",
        no_failed,
    ]
    assert unmet(expect(processed="rows_sent"), odd, 10, []) == [
        "processed: expected rows_sent, but the answer's summary gives no processed count "
        "('Import complete: 10 records.')",
        no_failed,
    ]


def test_amount_of_a_total() -> None:
    assert Amount.parse("5%").of(200) == 10
    assert Amount.parse(3).of(200) == 3
    assert str(Amount.parse("2.5%")) == "2.5%"


def test_a_redirect_names_its_target() -> None:
    moved = Response(302, b"", "text/html", 1, 0.1, location="https://sso.example/login")
    with pytest.raises(InfinitiError) as caught:
        parse(moved, where=WHERE, user="autosync", url=URL)
    assert str(caught.value) == (
        "tenant stmarys, spec students: Infiniti at https://stmarys.example answered HTTP 302, a redirect to "
        "https://sso.example/login\n"
        "  hint: the import is never redirected: if that address is Infiniti's, make it the tenant's url; a "
        "login page means something in between (a proxy, single sign-on) answered instead"
    )


def test_an_answer_after_the_retries_says_why_they_stopped() -> None:
    busy = Response(
        503, b"Busy", "text/plain", 5, 9.0, gave_up="gave up after 5 attempts: retries.attempts is 4"
    )
    with pytest.raises(InfinitiError) as caught:
        parse(busy, where=WHERE, user="autosync", url=URL)
    assert caught.value.message == (
        "Infiniti at https://stmarys.example answered HTTP 503: text/plain: Busy "
        "(gave up after 5 attempts: retries.attempts is 4)"
    )


def confirmed(processed: int, created: int, updated: int, failed: int, success: bool = True) -> Answer:
    """An answer without details whose summary gives these counts."""
    counts = Counts(processed, created, updated, failed)
    return Answer(success, summary(processed, created, updated, failed), counts, {})


ISSUE = confirmed(0, 0, 0, 0)  # the issue's answer: success, but no user counted
ODD = Answer(True, "Import complete: 6 records.", Counts(), {})


@pytest.mark.parametrize(
    ("answer", "rows", "lines"),
    [
        (confirmed(3, 1, 2, 0), 3, set()),
        (confirmed(0, 0, 0, 0), 0, set()),  # a header-only file
        (ISSUE, 6, {1, 2, 3, 4, 5, 6}),
        (ODD, 3, {1, 2, 3}),  # counts of unknown wording confirm nothing
        (Answer(True, "3 users processed. 3 users created.", Counts(3, 3, None, None), {}), 3, {1, 2, 3}),
        (confirmed(3, 2, 0, 0), 3, {1, 2, 3}),  # which 2 is not said
        (confirmed(3, 2, 0, 1), 3, {1, 2, 3}),  # a failure without details
        (confirmed(3, 3, 0, 1), 3, {1, 2, 3}),
        (confirmed(4, 4, 0, 0), 3, {1, 2, 3}),  # more than was sent
        (confirmed(3, 3, 0, 0, success=False), 3, {1, 2, 3}),
        (OK, 3, {1, 2, 3}),  # the counts of another request
        (Answer(False, "", Counts(), {}), 3, {1, 2, 3}),
        (Answer(False, "", Counts(), {1: "User Created", 2: BAD_EMAIL}), 3, {2, 3}),  # 3 not listed
        (Answer(True, "", Counts(), {1: "User Updated", 2: "User Created"}), 2, set()),
    ],
)
def test_the_lines_an_answer_does_not_confirm(answer: Answer, rows: int, lines: set[int]) -> None:
    assert unaccepted(answer, rows) == lines


AGAIN = "none of them is recorded as synced, the next run sends them again"


@pytest.mark.parametrize(
    ("batches", "problems"),
    [
        ([(confirmed(6, 2, 4, 0), 6)], []),
        ([(confirmed(0, 0, 0, 0), 0)], []),
        (
            [(Answer(False, summary(2, 1, 0, 1), Counts(2, 1, 0, 1), {1: BAD_EMAIL, 2: "User Created"}), 2)],
            [],
        ),
        ([(ISSUE, 6)], [f"the answer confirms 0 of the 6 lines sent; {AGAIN}"]),
        (
            [(confirmed(6, 4, 0, 0), 6)],
            [f"the answer confirms 4 of the 6 lines sent, without saying which; {AGAIN}"],
        ),
        (
            [(ODD, 6)],
            [
                "the answer does not confirm the 6 lines sent (its summary gives no processed count: "
                f"'Import complete: 6 records.'); {AGAIN}"
            ],
        ),
        (
            [(confirmed(1, 1, 0, 0, success=False), 1)],
            [
                "the answer does not confirm the 1 line sent (no success, no rows listed); "
                "it is not recorded as synced, the next run sends it again"
            ],
        ),
        (
            [(confirmed(6, 6, 0, 1), 6)],
            [
                "the answer's counts (6 processed, 6 created or updated, 1 failed, no rows listed) "
                f"do not match the 6 lines sent; {AGAIN}"
            ],
        ),
        (
            [(confirmed(4, 4, 0, 0), 4), (confirmed(2, 1, 0, 0), 2), (ODD, 3)],
            [
                "batch 2 of 3 (lines 5 to 6): the answer confirms 1 of the 2 lines sent, "
                f"without saying which; {AGAIN}",
                "batch 3 of 3 (lines 7 to 9): the answer does not confirm the 3 lines sent "
                f"(its summary gives no processed count: 'Import complete: 6 records.'); {AGAIN}",
            ],
        ),
        (
            [(confirmed(2, 2, 0, 0), 2), (Answer(False, "", Counts(), {1: "User Created", 2: BAD_EMAIL}), 3)],
            [
                "batch 2 of 2 (lines 3 to 5): the answer lists no outcome for 1 of the 3 lines sent "
                "(line 5); it is not recorded as synced, the next run sends it again"
            ],
        ),
        (
            [(Answer(False, "", Counts(), {2: BAD_EMAIL}), 8)],
            [
                "the answer lists no outcome for 7 of the 8 lines sent (lines 1, 3, 4, 5, 6, ...); "
                "they are not recorded as synced, the next run sends them again"
            ],
        ),
    ],
)
def test_why_lines_are_not_recorded(batches: list[tuple[Answer, int]], problems: list[str]) -> None:
    assert unconfirmed(batches) == problems


def test_the_expect_defaults_are_the_schemas() -> None:
    """success and failed default to what the spec schema says (its one home for defaults)."""
    properties = json.loads(schema.text("spec"))["properties"]["expect"]["properties"]
    assert properties["success"]["default"] is DEFAULT_SUCCESS is True
    assert (
        CountExpectation.parse(properties["failed"]["default"]) == DEFAULT_FAILED == CountExpectation(exact=0)
    )


def test_a_failed_rows_reason_is_said_once() -> None:
    assert reason(BAD_EMAIL) == "Field (emailAddress) is not a well-formed email address."
    assert reason("Something else went wrong. ") == "Something else went wrong."
    assert reason("A User failed to import: B") == "A User failed to import: B"


def test_a_group_infiniti_does_not_define_gets_a_hint_naming_the_spec_list_that_has_it() -> None:
    assert hint(undefined_library_group("Teachers")) == (
        "the spec's groups.library lists 'Teachers', which Infiniti does not define: create that library "
        "group in Infiniti (it imports users only into groups defined there), or take it out of "
        "groups.library so that the pre-checks leave such rows out"
    )
    assert "groups.system lists 'Staff (NZ)'" in str(hint(undefined_system_group("Staff (NZ)")))
    assert hint("Library group (Teachers) is not defined.") is not None  # said once, as well as twice
    assert hint(BAD_EMAIL) is None
    assert hint("User Created") is None
