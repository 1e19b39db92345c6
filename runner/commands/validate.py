"""`infiniti-sync validate [PATH...]`: every problem of the project and its specs, offline.

Without PATH, the whole project (`--project`, or the nearest infiniti-sync.yaml upwards) is checked. Each PATH
is a project file or folder (the whole project is checked), a spec or tenant file (checked with its project,
so that rules across files still apply, but only its own problems are reported) or a folder of them. A spec
outside any project is checked on its own. Paths of several projects may be given at once, as pre-commit does.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner import project, report
from runner.console import Console
from runner.errors import EXIT_OK, EXIT_USAGE, Problem, UsageError
from runner.files import Files
from runner.report.validate import Validation
from runner.validate import check
from runner.yamlfile import Document
from runner.yamlfile import load as load_yaml


@dataclass
class Target:
    """One project (or none, for specs outside any project) and what to report of it."""

    project_file: Path | None
    whole: bool = False
    specs: list[Path] = field(default_factory=list)


class _Loader:
    """Loads each file once, however many times the paths name it."""

    def __init__(self) -> None:
        self._docs: dict[Path, Document] = {}

    def __call__(self, path: Path) -> Document:
        key = path.resolve()
        if key not in self._docs:
            self._docs[key] = load_yaml(path)
        return self._docs[key]


def targets(paths: Sequence[Path], explicit: Path | None, load: _Loader) -> list[Target]:
    """What to check for `paths`, grouped by project, in the order the paths came."""
    if not paths:
        return [Target(project.find(explicit=explicit), whole=True)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    found: dict[Path | None, Target] = {}
    for path in paths:
        for spec in _expand(path):
            owner = _project_of(spec, explicit, load)
            key = owner.resolve() if owner else None
            target = found.setdefault(key, Target(owner))
            if owner is not None and owner.resolve() == spec.resolve():
                target.whole = True
            else:
                target.specs.append(spec)
    return list(found.values())


def _expand(path: Path) -> list[Path]:
    """A folder stands for its project file, or else for the spec files in it."""
    if not path.is_dir():
        return [path]
    for name in (project.PROJECT_FILE, "infiniti-sync.yml"):
        if (path / name).is_file():
            return [path / name]
    specs = project.spec_files(path)
    if not specs:
        raise UsageError(f"no {project.PROJECT_FILE} and no spec files in {path}")
    return specs


def _project_of(path: Path, explicit: Path | None, load: _Loader) -> Path | None:
    """The project file `path` belongs to (itself, for a project file); None outside any project."""
    if project.is_project_file(path, load(path)):
        return project.absolute(path)
    if explicit is not None:
        return project.find(explicit=explicit)
    try:
        return project.find(start=path.parent)
    except UsageError:
        return None


def _files(target: Target, load: _Loader) -> tuple[Files, list[Document]]:
    """The files of `target` to check, and those to report on."""
    if target.project_file is None:
        specs = [load(p) for p in target.specs]
        return Files(project=None, specs=specs), specs
    files = project.read(target.project_file, target.specs, load=load)
    if target.whole:
        return files, [d for d in (files.project, *files.tenant_files, *files.specs) if d is not None]
    wanted = {p.resolve() for p in target.specs}
    return files, [d for d in (*files.tenant_files, *files.specs) if d.path.resolve() in wanted]


@dataclass
class Outcome:
    """What validation found, over every target."""

    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def validate(paths: Sequence[Path], explicit: Path | None) -> Outcome:
    """Check every target of `paths` and keep the problems of the files asked about."""
    load = _Loader()
    outcome = Outcome()
    for target in targets(paths, explicit, load):
        files, shown = _files(target, load)
        names = list(dict.fromkeys(d.name for d in shown))
        outcome.files += [n for n in names if n not in outcome.files]
        outcome.problems += [p for p in check(files) if p.file in names]
    outcome.problems = list(dict.fromkeys(outcome.problems))
    return outcome


def execute(args: argparse.Namespace, console: Console) -> int:
    """Check, report in the chosen format, and exit 0 (valid) or 2 (invalid)."""
    outcome = validate([Path(p) for p in args.paths], args.project)
    problems = outcome.problems
    failed = any(p.severity == "error" or args.strict for p in problems)
    if args.strict:
        problems = [Problem(p.file, p.line, p.col, p.path, p.message, "error", p.rule) for p in problems]
    found = Validation(problems, outcome.files, valid=not failed, quiet=console.quiet)
    report.write(console, "validate", args.format, found)
    if args.junit:
        report.write_file("validate", "junit", args.junit, found)
    return EXIT_USAGE if failed else EXIT_OK
