"""`infiniti-sync validate [PATH...]`: every problem of the project and its specs, offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from runner import project, report
from runner.console import Console
from runner.errors import EXIT_OK, EXIT_USAGE, Problem, UsageError
from runner.validate import Files, check
from runner.yamlfile import display_path
from runner.yamlfile import load as load_yaml


def _files(paths: list[Path], explicit: Path | None) -> tuple[Files, set[str] | None]:
    """The files to check, and the names to report on (None: all of them)."""
    if not paths:
        return project.read(project.find(explicit=explicit)), None
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    projects = [p for p in paths if p.is_dir() or project.is_project_file(p, load_yaml(p))]
    specs = [p for p in paths if p not in projects]
    if len(projects) > 1:
        raise UsageError("give at most one project file or folder at a time")
    if projects:
        return project.read(project.find(explicit=projects[0]), specs), None
    try:
        found = project.find(start=specs[0].parent, explicit=explicit)
    except UsageError:  # specs outside any project: check them on their own
        return Files(project=None, specs=[load_yaml(p) for p in specs]), None
    files = project.read(found, specs)
    return files, {display_path(project.absolute(p)) for p in specs}


def execute(args: argparse.Namespace, console: Console) -> int:
    """Check, report in the chosen format, and exit 0 (valid) or 2 (invalid)."""
    files, only = _files(args.paths, args.project)
    problems = check(files)
    if only is not None:
        problems = [p for p in problems if p.file in only]
    names = [d.name for d in ([files.project] if files.project else []) + files.specs]
    if only is not None:
        names = [n for n in names if n in only]
    failed = any(p.severity == "error" or args.strict for p in problems)
    if args.strict:
        problems = [Problem(p.file, p.line, p.col, p.path, p.message, "error", p.rule) for p in problems]
    if args.format == "json":
        console.print(report.problems_json(problems, names, not failed))
    elif args.format == "github":
        if problems:
            console.print(report.problems_github(problems))
    else:
        console.print(report.problems_text(problems, len(names)))
    return EXIT_USAGE if failed else EXIT_OK
