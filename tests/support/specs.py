"""Spec, tenant and project records built in code, for tests that need no files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.spec import Checks, Connection, Duplicates, Groups, Secret, SourceSpec, Spec, Tenant

LIBRARY = ("Year 7", "Year 8", "Staff")
SYSTEM = ("Students", "Staff")


def make_spec(
    columns: Mapping[str, str] | Sequence[tuple[str, str]],
    *,
    query: str = "SELECT * FROM people",
    where: str | None = None,
    lookups: Mapping[str, Mapping[str, Any]] | None = None,
    checks: Checks | None = None,
    ids: Sequence[str] = (),
    params: Mapping[str, Any] | None = None,
    name: str = "people",
) -> Spec:
    """A spec with these columns (the three required ones default to constants when not given)."""
    given = dict(columns)
    required = {"username": "{{ row.code }}", "library-group": "Year 7", "system-group": "Students"}
    ordered = {**{k: given.pop(k, v) for k, v in required.items()}, **given}
    return Spec(
        name=name,
        path=Path(f"specs/{name}.yaml"),
        source=SourceSpec(connection="db", query=query, params=params or {}, id_columns=tuple(ids)),
        columns=tuple(ordered.items()),
        groups=Groups(library=frozenset(LIBRARY), system=frozenset(SYSTEM)),
        lookups=lookups or {},
        where=where,
        checks=checks or Checks(),
    )


def make_tenant(name: str = "stmarys", vars: Mapping[str, Any] | None = None) -> Tenant:
    """A tenant whose templates see `vars`; its connection `db` is never opened by these tests."""
    return Tenant(
        name=name,
        url="https://stmarys.example.edu",
        username="autosync",
        password=Secret(env="INFINITI_SYNC_TEST_UNUSED"),
        specs=("people",),
        tenant_id="stm",
        connections={"db": Connection(name="db", url="sqlite:///unused.db")},
        vars=vars or {},
    )


def groups_spec(policy: Duplicates) -> Spec:
    """A spec of rows {u, g}: username u, library group g (a system group of Students), keyed by u, with
    duplicates `policy`: what the duplicate check's and the change lists' properties plan."""
    return make_spec(
        {"username": "{{ row.u }}", "library-group": "{{ row.g }}"},
        ids=["u"],
        checks=Checks(duplicates=policy),
    )


def groups_line(username: str, group: str) -> tuple[str, ...]:
    """The line `groups_spec` writes for a row."""
    return (username, group, "Students")
