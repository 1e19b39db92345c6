"""`infiniti-sync test [PATH...]`: run the `tests:` cases inside specs."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from runner import project
from runner.console import Console
from runner.errors import EXIT_CHECK, EXIT_OK, SpecError, UsageError
from runner.files import Files
from runner.report import JUnitCase, junit, write_private
from runner.spec import Spec
from runner.spectest import CaseResult, run_case
from runner.validate import check
from runner.yamlfile import display_path
from runner.yamlfile import load as load_yaml


def _specs(paths: list[Path], explicit: Path | None) -> list[Spec]:
    """The specs to test: all of the project's, or those at `paths`."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    try:
        found = project.find(start=paths[0].parent if paths else None, explicit=explicit)
    except UsageError:
        if not paths:
            raise
        files = Files(project=None, specs=[load_yaml(p) for p in paths])
        problems = check(files)
        if any(p.severity == "error" for p in problems):
            raise SpecError(problems) from None
        return [project.build_spec(d, files.spec_name(d)) for d in files.specs]
    proj = project.load(found)
    if not paths:
        return list(proj.specs.values())
    wanted = {project.absolute(p) for p in paths}
    specs = [s for s in proj.specs.values() if s.path in wanted]
    outside = wanted - {s.path for s in specs}
    if outside:
        raise UsageError(f"not a spec of the project {found}: {', '.join(map(str, sorted(outside)))}")
    return specs


def _text(results: list[tuple[CaseResult, float]]) -> str:
    lines = []
    for result, _ in results:
        mark = "ok  " if result.passed else "FAIL"
        lines.append(f"{mark} {result.spec.name}: {result.case.name} ({result.where})")
        lines += [f"     {d}" for d in result.differences]
    failed = sum(not r.passed for r, _ in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def _json(results: list[tuple[CaseResult, float]]) -> str:
    return json.dumps(
        {
            "passed": all(r.passed for r, _ in results),
            "cases": [
                {
                    "spec": r.spec.name,
                    "name": r.case.name,
                    "file": str(r.spec.path),
                    "line": r.case.line,
                    "passed": r.passed,
                    "differences": r.differences,
                }
                for r, _ in results
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def execute(args: argparse.Namespace, console: Console) -> int:
    """Run every case; exit 1 when one fails."""
    results = []
    for spec in _specs([Path(p) for p in args.paths], args.project):
        for case in spec.tests:
            started = time.perf_counter()
            results.append((run_case(spec, case), time.perf_counter() - started))
    if not results:
        console.message("no tests: add a tests: section to a spec")
    console.print(_json(results) if args.format == "json" else _text(results))
    if args.junit:
        cases = [
            JUnitCase(
                r.spec.name,
                r.case.name,
                failure="\n".join(r.differences) or None,
                file=display_path(r.spec.path),
                line=r.case.line,
                seconds=s,
            )
            for r, s in results
        ]
        write_private(args.junit, junit("infiniti-sync test", cases))
    return EXIT_OK if all(r.passed for r, _ in results) else EXIT_CHECK
