"""Projects written to a folder, and `infiniti-sync` run on them through `runner.cli.main`."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.cli import main
from runner.console import Console

PROJECT = """\
version: 1
tenants:
  stmarys:
    url: https://stmarys.example.edu
    username: autosync
    password: {{env: STMARYS_INFINITI_PASSWORD}}
    connections:
      sms: {connection}
    vars: {vars}
    specs: [people]
"""

SPEC = """\
version: 1
source:
  connection: sms
  query: {query}
  params: {params}
columns:
  username: "{{{{ row.code | lower }}}}"
  library-group: Year 7
  system-group: Students
{columns}
groups:
  library: [Year 7]
  system: [Students]
"""


def write_project(
    folder: Path,
    *,
    connection: str = "{url: {env: STMARYS_SMS_URL}}",
    query: str = "SELECT code, given FROM people ORDER BY code",
    params: str = "{}",
    columns: str = 'givenName: "{{ row.given }}"',
    vars: str = "{campus: North}",
) -> Path:
    """A project with one tenant (stmarys) and one spec (people) reading connection `sms`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "specs").mkdir(exist_ok=True)
    (folder / "infiniti-sync.yaml").write_text(
        PROJECT.format(connection=connection, vars=vars), encoding="utf-8"
    )
    spec = SPEC.format(query=query, params=params, columns=textwrap.indent(columns, "  "))
    (folder / "specs" / "people.yaml").write_text(spec, encoding="utf-8")
    return folder


@dataclass(frozen=True)
class Ran:
    """What a command printed and returned."""

    code: int
    out: str
    err: str


def run(args: Sequence[str]) -> Ran:
    """`infiniti-sync ARGS`, in this process, with its output captured."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), Console(out=out, err=err))
    return Ran(code, out.getvalue(), err.getvalue())


def left_in(folder: Path) -> list[str]:
    """Every file under `folder` (an --out folder), relative, sorted."""
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
