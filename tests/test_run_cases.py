"""`infiniti-sync run` end to end against a sandbox process, one folder per scenario (see
tests/run_cases/README.md): the project, the sandbox's config, the faults it injects, and the exact
report, exit code and sandbox holdings expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.sandbox import Fault
from tests.support.project import DEMO_ENV, Site

CASES = Path(__file__).parent / "run_cases"


def _inject(site: Site, faults: dict[str, list[dict[str, Any]]]) -> None:
    for tenant, queued in faults.items():
        for raw in queued:
            fields = dict(raw)
            count = fields.pop("count", 1)
            site.sandbox.inject(tenant, Fault(**fields), count)


def _contacts(site: Site, tenant: str, usernames: set[str]) -> dict[str, list[str]]:
    """The contacts the sandbox holds for `usernames`: "TYPE CONTACT", "(by hand)" after those added so."""
    held: dict[str, list[str]] = {}
    for contact in site.sandbox.client.contacts(tenant):
        if contact["username"] in usernames:
            mark = " (by hand)" if contact["custom"] else ""
            held.setdefault(contact["username"], []).append(f"{contact['type']} {contact['contact']}{mark}")
    return held


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_run_case(case: str, tmp_path: Path) -> None:
    folder = CASES / case
    steps: dict[str, Any] = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8"))
    config = folder / "sandbox.yaml"
    site = Site.start(tmp_path / "project", overlay=folder, config=config if config.exists() else None)
    try:
        env = {**DEMO_ENV, **steps.get("env", {})}
        for number, step in enumerate(steps["runs"], 1):
            for name, content in step.get("files", {}).items():
                (site.root / name).write_text(content, encoding="utf-8")
            _inject(site, step.get("faults", {}))
            before = len(site.imports())
            done = site.invoke(step["args"], env)
            got = {"exit": done.code, "stdout": site.normalise(done.out), "stderr": site.normalise(done.err)}
            want = {"exit": step["exit"], "stdout": step.get("stdout", ""), "stderr": step.get("stderr", "")}
            assert got == want, f"run {number}: {step['args']}"
            if "imports" in step:
                assert site.imports()[before:] == [str(i) for i in step["imports"]], f"run {number}"
            for tenant, usernames in step.get("users", {}).items():
                held = [user["username"] for user in site.sandbox.users(tenant)]
                assert held == usernames, f"run {number}: users of {tenant}"
            for tenant, users in step.get("contacts", {}).items():
                assert _contacts(site, tenant, set(users)) == users, f"run {number}: contacts of {tenant}"
    finally:
        site.stop()
