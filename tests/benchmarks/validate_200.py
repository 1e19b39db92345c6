"""How long `infiniti-sync validate` takes on a project of 200 specs (not a test: run it by hand).

    python tests/benchmarks/validate_200.py [--specs N] [--runs N]

Each generated spec differs from the others in its query, lookups and templates, so that no cache inside the
runner makes the run look faster than a real project of that size. The project is generated in a temporary
folder; the command is timed end to end as a subprocess (what CI and pre-commit pay, start-up included) and
in-process (what the validation itself costs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = """\
version: 1
specs: specs
tenants:
  school:
    url: https://school.concordinfiniti.com
    username: autosync
    password: {{env: INFINITI_PASSWORD}}
    connections:
      export: {{files: sms-export}}
    vars: {{campus: North}}
    specs: [{names}]
    schedule: "15 2 * * *"
"""

SPEC = """\
# yaml-language-server: $schema=../schemas/sync-spec.schema.json
version: 1
description: Generated spec {n}
source:
  connection: export
  query: |
    SELECT code_{n}, given, family, year_{n}, email, form
    FROM students_{n}
    WHERE status = :status AND campus = :campus
    ORDER BY code_{n}
  params: {{status: Active, campus: "{{{{ vars.campus }}}}"}}
  id: code_{n}
lookups:
  year_{n}: {{"07": Year 7, "08": Year 8, "09": Year 9, "10": Year 10, "11": Year 11, "12": Year 12}}
where: "{{{{ row.year_{n} in lookups.year_{n} }}}}"
columns:
  username: "{{{{ row.code_{n} | lower }}}}"
  library-group: "{{{{ lookups.year_{n}[row.year_{n}] }}}}"
  system-group: Students
  emailAddress: "{{{{ row.email | trim | lower }}}}{{# {n} #}}"
  givenName: "{{{{ row.given | nonempty(row.code_{n}) }}}}"
  surname: "{{{{ row.family | ascii }}}}{{# {n} #}}"
  formClass: "{{{{ row.form | upper }}}}{{# {n} #}}"
  staffMember: false
groups:
  library: [Year 7, Year 8, Year 9, Year 10, Year 11, Year 12]
  system: [Students]
checks: {{min_rows: 10, max_change: 25%, duplicates: error}}
expect: {{success: true, failed: 0, processed: rows_sent}}
tests:
  - name: a year 7 student {n}
    rows:
      - {{code_{n}: S{n:04d}, given: Ana, family: Lee, year_{n}: "07", email: ana@example.edu, form: 7a}}
    csv:
      - {{username: s{n:04d}, library-group: Year 7, system-group: Students, emailAddress: ana@example.edu,
         givenName: Ana, surname: Lee, formClass: 7A, staffMember: "FALSE"}}
"""


def generate(root: Path, count: int) -> None:
    """A valid project of `count` specs in `root`."""
    names = [f"spec{n:03d}" for n in range(count)]
    (root / "specs").mkdir(parents=True)
    (root / "sms-export").mkdir()
    (root / "infiniti-sync.yaml").write_text(PROJECT.format(names=", ".join(names)), encoding="utf-8")
    for n, name in enumerate(names):
        (root / "specs" / f"{name}.yaml").write_text(SPEC.format(n=n), encoding="utf-8")


def subprocess_seconds(root: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "runner", "validate"],
        cwd=root,
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"validate failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds


def in_process_seconds(root: Path) -> float:
    """One validation in this process; every cache the runner keeps is emptied first."""
    from runner import project, schema, templates, validate

    schema.validator.cache_clear()
    templates.environment.cache_clear()
    validate.parse.cache_clear()
    validate.summary.cache_clear()
    start = time.perf_counter()
    problems = validate.check(project.read(project.find(start=root)))
    seconds = time.perf_counter() - start
    if problems:
        raise SystemExit("\n".join(str(p) for p in problems))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        generate(root, args.specs)
        outside = [subprocess_seconds(root) for _ in range(args.runs)]
        inside = [in_process_seconds(root) for _ in range(args.runs)]
    for label, runs in (("subprocess (end to end)", outside), ("in-process (validation only)", inside)):
        print(
            f"{args.specs} specs, {label}: median {statistics.median(runs):.3f} s, "
            f"min {min(runs):.3f} s, max {max(runs):.3f} s over {args.runs} runs"
        )


if __name__ == "__main__":
    main()
