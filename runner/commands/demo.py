"""`infiniti-sync demo`: the whole pipeline on the embedded default, in a few seconds, touching nothing
but temporary files.

It copies the shipped example project to a temporary folder, starts the Infiniti sandbox in this process on
a free loopback port over TLS (its own CA, trusted for this run only: verification stays on), runs every
spec of the example against it, prints the report and what the sandbox now holds, and cleans up.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from runner import jobs, project, tables
from runner.client import Client
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.init.write import common_files, write_new
from runner.numbers import plural
from runner.report.run import runs_text
from runner.run import JobResult, Options, Runner
from runner.spec import Project
from runner.state import StateStore

_SCHEMA_COMMENT = re.compile(r"^(# yaml-language-server: \$schema=)\S+", re.MULTILINE)
PASSWORD_VARIABLE = "INFINITI_DEMO_PASSWORD"  # noqa: S105 - a variable name, not a password
NEXT_STEPS = """\
Next: point the project at your school's Infiniti
  1. copy the example: infiniti-sync demo --keep ./my-specs   (or start from runner/example/)
  2. in infiniti-sync.yaml set the tenant's url (https://YOURSCHOOL.concordinfiniti.com), tenant_id and
     username, keep password as {env: ...} and remove ca_bundle (Concord's certificate is publicly trusted)
  3. point connections at your SMS (a database URL or an export folder) and adjust the specs' queries
  4. infiniti-sync validate && infiniti-sync test && infiniti-sync plan     (nothing is sent)
  5. try it on a sandbox first: infiniti-sync sandbox, then infiniti-sync run --tenant NAME"""


def copy_example(folder: Path) -> Path:
    """Copy the shipped example project into `folder`, with the files every kept project has (.gitignore,
    the JSON Schemas); return its project file."""
    source = resources.files("runner").joinpath("example")
    for relative in ("infiniti-sync.yaml", "specs", "sms-export"):
        with resources.as_file(source.joinpath(relative)) as path:
            target = folder / relative
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(path, target)
    _schemas_beside(folder)
    return folder / "infiniti-sync.yaml"


def _schemas_beside(folder: Path) -> None:
    """Write .gitignore and the schemas (as `init` does) and point the files' `$schema=` comments at
    `folder`/schemas (in the package they name runner/schemas/), so that an editor checks the kept project
    as it does the shipped one."""
    write_new(folder, common_files())
    named = [(folder / "infiniti-sync.yaml", "schemas/project.schema.json")]
    named += [(p, "../schemas/sync-spec.schema.json") for p in sorted((folder / "specs").glob("*.yaml"))]
    for path, target in named:
        text = path.read_text(encoding="utf-8")
        path.write_text(_SCHEMA_COMMENT.sub(rf"\g<1>{target}", text, count=1), encoding="utf-8")


def _against(proj: Project, url: str, ca_file: Path | None) -> Project:
    """The project with every tenant pointed at the sandbox."""
    tenants = {
        name: dataclasses.replace(tenant, url=url, ca_bundle=ca_file) for name, tenant in proj.tenants.items()
    }
    return dataclasses.replace(proj, tenants=tenants)


def _holdings(users: list[dict[str, str]]) -> list[str]:
    header = ("username", "library-group", "system-group", "givenName", "surname", "emailAddress")
    rows = [tuple(u.get(c, "") for c in header) for u in users]
    return [f"The sandbox now holds {plural(len(users), 'user')}:", *tables.table(header, rows, indent="  ")]


def _contact_holdings(contacts: list[dict[str, object]], shown: int = 6) -> list[str]:
    """The contacts the sandbox holds (runner/sandbox/contacts.py), counted, the first few shown."""
    if not contacts:
        return []
    patrons = len({c["username"] for c in contacts})
    by_hand = sum(1 for c in contacts if c["custom"])
    header = ("username", "type", "role", "addressee", "contact", "added by hand")
    listed = contacts[:shown] + [c for c in contacts[shown:] if c["custom"]]
    rows = [(*(str(c.get(k, "")) for k in header[:-1]), "yes" if c["custom"] else "") for c in listed]
    return [
        "",
        f"and {len(contacts)} contacts of {patrons} patrons ({by_hand} added by hand, kept by the import); "
        f"the first {min(shown, len(contacts))} and those added by hand:",
        *tables.table(header, rows, indent="  "),
    ]


def execute(args: argparse.Namespace, console: Console) -> int:
    """Run the example project against an in-process sandbox and show the outcome."""
    from runner.sandbox import Sandbox, demo_config

    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        raise UsageError(f"{args.keep} is not empty; give a new folder to keep the demo project in")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="infiniti-sync-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        proj = project.load(copy_example(folder))
        config = demo_config()
        with Sandbox(config, port=0, tls_dir=folder / ".infiniti-sync" / "sandbox") as sandbox:
            console.message(f"sandbox listening on {sandbox.url} (CA {sandbox.ca_file})")
            proj = _against(proj, sandbox.url, sandbox.ca_file)
            environ = {**os.environ, PASSWORD_VARIABLE: "change-me"}
            results = _run(proj, environ, console)
            held = _holdings(sandbox.users("demo")) + _contact_holdings(sandbox.contacts("demo"))
        console.print(runs_text(results, verbose=console.verbose))
        console.print()
        console.print("\n".join(held))
        console.print()
        console.print(NEXT_STEPS if args.keep is None else f"The demo project is in {folder}.\n{NEXT_STEPS}")
        return max((r.exit_code for r in results), default=EXIT_OK)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _run(proj: Project, environ: dict[str, str], console: Console) -> list[JobResult]:
    import urllib3

    state = StateStore.open(proj.state, environ=environ)
    pool = urllib3.PoolManager()
    try:
        runner = Runner(proj, Client(pool), state, environ=environ, console=console, options=Options())
        return runner.run_all(jobs.select(proj))
    finally:
        pool.clear()
        state.close()
