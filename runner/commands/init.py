"""`infiniti-sync init [DIR] --from SOURCE`: a starting project from an export (runner/init/).

It reads the export (a CSV folder, a CSV file or a database URL), recognises its layout, writes the project
into DIR (never over a file: if any is there, nothing is written, exit 2), and prints what it wrote and the
commands to run next.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from runner import schema
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.init import project
from runner.init.export import open_export
from runner.init.write import SCHEMAS, write_new
from runner.numbers import plural

_WHAT = {
    "infiniti-sync.yaml": "the project: the tenant, its Infiniti and the connection",
    "specs/students.yaml": "students into year-level groups, with tests",
    "specs/staff.yaml": "staff into the Staff groups, with tests",
    project.SANDBOX_CONFIG: "a local Infiniti sandbox with the groups found",
    ".gitignore": "keeps .infiniti-sync/ (state and archive: personal data) out of git",
}


def execute(args: argparse.Namespace, console: Console) -> int:
    """Write the starting project and say what to do next."""
    folder: Path = args.dir
    tenant: str = args.tenant
    if (problem := schema.tenant_name_problem(tenant)) is not None:
        raise UsageError(f"--tenant {tenant!r}: {problem}")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; give the folder to write the project in")
    variable = _variable(tenant)
    export = open_export(args.from_, folder, variable=f"{variable}_SMS_URL")
    made = project.build(export, tenant, f"{variable}_INFINITI_PASSWORD")
    write_new(folder, made.files)
    for line in _report(folder, made, export.secret_variable, tenant, f"{variable}_INFINITI_PASSWORD"):
        console.print(line)
    return EXIT_OK


def _variable(tenant: str) -> str:
    """The prefix of the tenant's environment variables: its name in capitals, A-Z, 0-9 and _ only."""
    return re.sub(r"[^A-Z0-9]+", "_", tenant.upper()).strip("_") or "SCHOOL"


def _report(folder: Path, made: project.Project, secret: str | None, tenant: str, password: str) -> list[str]:
    lines = [f"Wrote a starting project for {made.title} in {folder}:"]
    for name in made.files:
        if name.startswith(f"{SCHEMAS}/"):
            continue
        lines.append(f"  {name:<20} {_WHAT[name]}")
    lines.append(f"  {SCHEMAS + '/':<20} the JSON Schemas, for an editor's checks as you type")
    for name, what, found in (("students", "year levels", made.students), ("staff", "roles", made.staff)):
        if found is not None:
            lines.append(
                f"Found {plural(found.count, name, name)}; {what}: {', '.join(found.values) or 'none'}"
            )
    lines.append("")
    lines.append("Next:")
    lines.append(f"  cd {folder}")
    if made.choices:
        lines.append(
            f"  {plural(made.choices, 'choice')} to make in specs/ (<CHOOSE: ...>): "
            "infiniti-sync validate lists them"
        )
    if secret:
        lines.append(f"  set {secret} to the database URL (its password is not written in the project)")
    lines += [
        "  infiniti-sync validate && infiniti-sync test && infiniti-sync plan   (nothing is sent)",
        f"  infiniti-sync sandbox --config {project.SANDBOX_CONFIG}   (in another terminal, in this folder)",
        f"  {_setting(password, 'change-me')}   (the sandbox's password)",
        f"  infiniti-sync run --tenant {tenant}",
    ]
    return lines


def _setting(variable: str, value: str) -> str:
    """How this system's usual shell sets a variable: cmd.exe's on Windows, a POSIX shell's elsewhere."""
    return f"set {variable}={value}" if os.name == "nt" else f"export {variable}={value}"
