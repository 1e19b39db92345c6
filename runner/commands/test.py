"""`infiniti-sync test [PATH...]`: run the `tests:` cases inside specs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from runner import project, report
from runner.console import Console
from runner.errors import EXIT_CHECK, EXIT_OK, SpecError, UsageError
from runner.files import Files
from runner.report.test import TestReport
from runner.spec import Spec
from runner.spectest import run_case
from runner.validate import check
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


def execute(args: argparse.Namespace, console: Console) -> int:
    """Run every case; exit 1 when one fails."""
    results = []
    for spec in _specs([Path(p) for p in args.paths], args.project):
        for case in spec.tests:
            started = time.perf_counter()
            results.append((run_case(spec, case), time.perf_counter() - started))
    if not results:
        console.message("no tests: add a tests: section to a spec")
    found = TestReport(results, quiet=console.quiet)
    report.write(console, "test", args.format, found)
    if args.junit:
        report.write_file("test", "junit", args.junit, found)
    return EXIT_OK if all(r.passed for r, _ in results) else EXIT_CHECK
