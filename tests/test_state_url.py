"""A project's `state` is a SQLite file path or a PostgreSQL URL: a URL gone wrong (a typo, an unknown
scheme, a port that is not a number) is exit 2 with a message, never a new local store named after the
password. Literal values are validate cases (tests/validate_cases/state-*); here, values read from a secret
at run time, and the rule itself against SQLAlchemy's reading of the same URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from runner import stateurl
from runner.dburl import engine_url
from tests.support.project import copy_project, invoke

PASSWORD = "Zq9-state-secret"
PATHS = [
    ".infiniti-sync/state.db",
    "state.db",
    "/var/lib/infiniti-sync/state.db",
    "C:\\ProgramData\\infiniti-sync\\state.db",
    "C:/ProgramData/infiniti-sync/state.db",
    "\\\\server\\share\\state.db",
    "../shared/state 2026.db",
]
URLS = [
    "postgresql://db.example.edu/state",
    f"postgresql://runner:{PASSWORD}@db.example.edu:5432/state",
    f"postgresql+psycopg://runner:{PASSWORD}@127.0.0.1:5432/test?options=-csearch_path%3Dsync",
    "postgres://runner@[::1]:5432/state",
    "postgresql:///state",
    # a / in the password: read as SQLAlchemy reads it
    f"postgresql://runner:p%40ss/{PASSWORD}@db.example.edu/state",
]
BROKEN = {
    f"postgresql//root:{PASSWORD}@127.0.0.1/test": "does not parse",  # one : missing
    f"postgresql:/root:{PASSWORD}@127.0.0.1/test": "does not parse",
    f"postgresql:root:{PASSWORD}@127.0.0.1/test": "does not parse",
    f"root:{PASSWORD}@127.0.0.1/test": "does not parse",
    "//server/share/state.db": "does not parse",
    f" postgresql://root:{PASSWORD}@127.0.0.1/test": "does not parse",
    "postgresql://127.0.0.1:abc/test": "port",
    f"postgresql://root:{PASSWORD}/test": "port",  # the host forgotten: the password is read as a port
    "postgresql://127.0.0.1:99999/test": "port",
    "postgresql://127.0.0.1:\uff15\uff14\uff13\uff12/test": "port",  # full-width digits
    f"postgresql://root:p@{PASSWORD}@127.0.0.1/test": "more than one @",
    "mysql+pymysql://root@127.0.0.1:3306/test": "mysql+pymysql:// is not a store",
    "sqlite:///state.db": "not sqlite://",
    "my-db://x/y": "my-db:// is not a store",
}


def test_paths_and_postgresql_urls_are_taken_as_sqlalchemy_reads_them() -> None:
    assert [stateurl.problem(v) for v in PATHS + URLS] == [None] * len(PATHS + URLS)
    assert [stateurl.is_url(v) for v in PATHS + URLS] == [False] * len(PATHS) + [True] * len(URLS)
    assert {engine_url(url).get_backend_name() for url in URLS} == {"postgresql"}
    assert (make_url(URLS[-1]).password, make_url(URLS[-1]).host) == (f"p@ss/{PASSWORD}", "db.example.edu")


def test_a_url_gone_wrong_is_named_and_its_value_never_quoted() -> None:
    found = {value: stateurl.problem(value) for value in BROKEN}
    assert {v: p for v, p in found.items() if p is None or BROKEN[v] not in p} == {}
    assert [p for p in found.values() if p and PASSWORD in p] == []
    with pytest.raises(ValueError):  # what the runner used to meet, as exit 4
        make_url("postgresql://127.0.0.1:abc/test").port  # noqa: B018


def test_a_state_url_whose_driver_is_not_installed_is_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "project"
    _project(root)
    done = invoke(root, ["history"], {"STATE_URL": f"postgresql+nosuch://root:{PASSWORD}@127.0.0.1/test"})
    assert (done.code, done.out, done.err) == (
        2,
        "",
        "error: state ({env: STATE_URL}): the URL cannot be used: Can't load plugin: "
        "sqlalchemy.dialects:postgresql.nosuch\n"
        "  hint: postgresql:// uses psycopg, which pip install 'infiniti-sync[postgres]' installs\n",
    )


def _project(root: Path) -> None:
    project_file = copy_project(root)
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(
        text.replace("state: .infiniti-sync/state.db", "state: {env: STATE_URL}"), encoding="utf-8"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            f"postgresql//root:{PASSWORD}@127.0.0.1/test",
            "state ({env: STATE_URL}): looks like a database URL but does not parse as one: a URL starts "
            "with its scheme and ://, as in postgresql://USER@HOST:5432/DATABASE; a SQLite file path holds "
            "no //, @ or NAME: prefix",
        ),
        (
            "postgresql://127.0.0.1:abc/test",
            "state ({env: STATE_URL}): the URL's port (after the host and :) is not a number from 1 to "
            "65535; a password goes before the host, as in postgresql://USER:PASSWORD@HOST:5432/DATABASE",
        ),
        (
            "mysql+pymysql://root@127.0.0.1:3306/test",
            "state ({env: STATE_URL}): mysql+pymysql:// is not a store the runner can use: write a SQLite "
            "file path or a PostgreSQL URL",
        ),
    ],
)
def test_a_state_from_a_secret_that_is_no_url_is_exit_2_and_builds_no_store(
    tmp_path: Path, value: str, message: str
) -> None:
    root = tmp_path / "project"
    _project(root)
    env = {"STATE_URL": value, "INFINITI_DEMO_PASSWORD": "change-me"}
    done = [invoke(root, args, env) for args in (["run", "--all"], ["history"], ["plan", "--tenant", "demo"])]
    hint = "  hint: fix the value of {env: STATE_URL}; a PostgreSQL URL looks like postgresql://USER@HOST:5432/DATABASE"
    assert [(d.code, d.out, d.err) for d in done] == [(2, "", f"error: {message}\n{hint}\n")] * 3
    made = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")]
    assert [p for p in made if PASSWORD in p or "postgresql" in p or ".infiniti-sync" in p] == []
