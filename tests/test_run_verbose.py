"""`run -v` lists each attempt of an exchange with Infiniti, also when the exchange ends in an error: when
it started, what happened and how long the wait before the next one was (docs/guides/running.md)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import Site

ATTEMPT = r"attempt (\d) at \d\d:\d\d:\d\dZ: connection refused; "


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[tuple[Site, str]]:
    """The example project, its demo tenant pointed at a port nothing listens on, with one retry."""
    site = Site.start(tmp_path / "project")
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            url = f"https://127.0.0.1:{probe.getsockname()[1]}"
        text = site.project_file.read_text(encoding="utf-8").replace(site.sandbox.url, url)
        specs = "    specs: [students, staff, guardians]"
        text = text.replace(specs, f"{specs}\n    retries: {{attempts: 1}}")
        site.project_file.write_text(text, encoding="utf-8")
        yield site, url
    finally:
        site.stop()


def test_verbose_lists_the_attempts_of_an_exchange_that_failed(refusing: tuple[Site, str]) -> None:
    site, url = refusing
    done = site.invoke(["run", "-v", "--tenant", "demo", "--spec", "staff"])
    assert (done.code, done.err) == (3, "")
    head, hint, first, last, archive = done.out.splitlines()
    assert head == (
        f"demo/staff: error: Infiniti at {url}: connection refused (gave up after 2 attempts: "
        "retries.attempts is 1)"
    )
    assert hint.startswith("  hint: ")
    assert re.fullmatch(rf"  note: {ATTEMPT}retrying in [01]\.\d s", first), first
    assert re.fullmatch(rf"  note: {ATTEMPT}gave up after 2 attempts: retries.attempts is 1", last), last
    assert [re.search(ATTEMPT, line)[1] for line in (first, last)] == ["1", "2"]  # type: ignore[index]
    report = json.loads(
        (Path(archive.removeprefix("  archive: ")) / "report.json").read_text(encoding="utf-8")
    )
    assert report["notes"] == [first.removeprefix("  note: "), last.removeprefix("  note: ")]
