"""A proxy or firewall page that echoes the request's headers puts the Basic credentials into Infiniti's
answer: none of their forms (the password, user:password, its base64, the `Basic ...` value, their escapes)
may reach standard output, the archive, a JUnit file, the state or `history`."""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

import pytest

from runner import secrets
from tests.support.echo import Echo, EchoServer
from tests.support.project import copy_project, invoke, point_at

PASSWORD = 'Kq7$canary-Пароль <&"> 91'  # XML and JSON escape it, URLs encode it
USER = "importer"
ENV = {"INFINITI_DEMO_PASSWORD": PASSWORD}


def forms() -> list[bytes]:
    """Every form the credentials could be written in, and the `Basic ` that starts the header value."""
    pair = f"{USER}:{PASSWORD}"
    token = base64.b64encode(pair.encode()).decode()
    texts = [PASSWORD, pair, token, token.rstrip("="), "Basic "]
    json_escaped = [json.dumps(t)[1:-1] for t in texts]
    xml_escaped = [t.replace("&", "&amp;").replace("<", "&lt;") for t in texts]
    return sorted({t.encode() for t in texts + json_escaped + xml_escaped})


def leaks(data: bytes) -> list[bytes]:
    """The forms of the credentials found in `data`."""
    return [form for form in forms() if form in data]


def _project(folder: Path, url: str) -> Path:
    """The example project, its tenant demo signing in as USER at `url` (no CA: plain HTTP on loopback)."""
    project_file = copy_project(folder)
    point_at(project_file, url)
    text = project_file.read_text(encoding="utf-8").replace("username: autosync", f"username: {USER}")
    project_file.write_text(re.sub(r"^ *ca_bundle:.*\n", "", text, flags=re.MULTILINE), encoding="utf-8")
    return project_file


def test_an_answer_that_echoes_the_credentials_is_masked_everywhere(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "project"
    staff = ["run", "--tenant", "demo", "--spec", "staff"]
    answers = [Echo.HTML_403, Echo.HTML_403, Echo.JSON_SUMMARY, Echo.JSON_SUMMARY]
    with EchoServer(answers) as echo:
        _project(root, echo.url)
        done = [
            invoke(root, [*staff, "-v"], ENV),
            invoke(root, [*staff, "--format", "json", "--junit", "reports/blocked.xml"], ENV),
            invoke(root, [*staff, "-v"], ENV),
            invoke(root, [*staff, "--format", "json", "--junit", "reports/rejected.xml"], ENV),
            invoke(root, ["history", "-v"], ENV),
            invoke(root, ["history", "--format", "json"], ENV),
        ]
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert echo.seen == [f"Basic {token}"] * 4  # the pages did echo the credentials
    assert [d.code for d in done] == [3, 3, 1, 1, 0, 0], done
    captured = capfd.readouterr()
    written = sorted(
        p for p in root.rglob("*") if p.is_file() and p.parent.name not in ("specs", "sms-export")
    )
    names = {p.name for p in written}
    assert {"state.db", "blocked.xml", "rejected.xml", "answer-1.json", "report.json"} <= names
    outputs = "".join([*(d.out + d.err for d in done), captured.out, captured.err]).encode()
    found = {
        name: leaks(data)
        for name, data in [
            ("output", outputs),
            *[(os.fspath(p.relative_to(root)), p.read_bytes()) for p in written],
        ]
    }
    assert {name: hits for name, hits in found.items() if hits} == {}
    answers_archived = [p.read_text(encoding="utf-8") for p in written if p.name == "answer-1.json"]
    assert len(answers_archived) == 4
    assert all("Authorization: ***" in text for text in answers_archived), answers_archived  # masked whole
    history = json.loads(done[-1].out)["runs"]
    assert len(history) == 4 and all("***" in run["message"] for run in history), history


def test_every_form_of_the_basic_credentials_is_masked_whole() -> None:
    secrets.remember_basic(USER, PASSWORD)  # as the runner does when it reads a tenant's password
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert secrets.redact(f"Authorization: Basic {token}") == "Authorization: ***"
    assert secrets.redact(f"token {token.rstrip('=')} pair {USER}:{PASSWORD}.") == "token *** pair ***."
    assert secrets.redact(json.dumps({"p": PASSWORD})) == '{"p": "***"}'
    assert secrets.redact(PASSWORD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) == "***"


def test_the_secrets_pattern_is_compiled_when_next_needed_not_for_each_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A tenant's credentials add five groups of values (remember_basic): compiling the pattern of every
    # value so far after each group was most of the CPU of a run over many tenants (runner/secrets.py).
    compiled: list[str] = []
    compile_pattern = re.compile

    def counted(text: str, flags: int = 0) -> re.Pattern[str]:
        compiled.append(text)
        return compile_pattern(text, flags)

    monkeypatch.setattr(re, "compile", counted)
    secrets.remember_basic(USER, PASSWORD)
    secrets.remember_basic("other", "other-password")
    assert compiled == []
    assert secrets.redact(f"{PASSWORD} other:other-password") == "*** ***"
    assert secrets.redact(PASSWORD) == "***"
    assert len(compiled) == 1
    secrets.remember("a-third-secret")
    assert secrets.redact(f"a-third-secret, {PASSWORD}") == "***, ***"
    assert len(compiled) == 2


def test_a_secrets_html_forms_are_those_html_escape_writes() -> None:
    # runner.secrets escapes them itself, so that a run never imports the html module (tests/test_startup.py)
    for text in [PASSWORD, "a'b\"c<d>e&f", "&amp; already", "plain", "''\"\"<<>>&&"]:
        forms = secrets._forms(text)
        assert html.escape(text) in forms and html.escape(text, quote=False) in forms
        assert html.escape(text, quote=False).replace('"', "&quot;") in forms
        secrets.remember(text)
        assert secrets.redact(f"<p title='{html.escape(text)}'>") == "<p title='***'>"


def test_a_basic_value_of_someone_else_is_masked_and_plain_words_stay() -> None:
    proxy = base64.b64encode(b"proxyuser:proxy-secret").decode()
    assert secrets.redact(f"Proxy-Authorization: Basic {proxy}\r\n") == "Proxy-Authorization: ***\r\n"
    text = "Basic settings; Basic auth; Basic authentication failed; Basic dGVzdA=="  # test: no colon
    assert secrets.redact(text) == text
