"""The reporters' registry (runner/report/__init__.py): each command's `--format` choices and `--junit` come
from it, every reporter it names exists and is reached from the command line, and the JSON of a job comes
from the job's result itself, which knows nothing of the reporters."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from runner import report
from runner.cli import build_parser
from tests.support.probe import printed
from tests.support.project import Site, example_site_fixture

site = example_site_fixture


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _option(command: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in command._actions if flag in a.option_strings), None)


def test_every_commands_format_choices_are_the_registrys() -> None:
    for name, command in _commands().items():
        option = _option(command, "--format")
        if name not in report.FORMATS:
            assert option is None, name  # schedule's FORMAT is the engine, a positional: not a reporter
            continue
        assert option is not None, name
        assert (tuple(option.choices or ()), option.default) == (report.FORMATS[name], "text"), name


def test_the_file_reports_are_the_registrys() -> None:
    for name, command in _commands().items():
        files = {flag[2:] for a in command._actions for flag in a.option_strings} & {"junit"}
        assert files == set(report.FILES.get(name, {})), name


def test_every_registered_reporter_exists_and_no_other() -> None:
    for command in {*report.FORMATS, *report.FILES}:
        module = importlib.import_module(f"runner.report.{command}")
        defined = {n for n, f in inspect.getmembers(module, inspect.isfunction) if n.endswith("_report")}
        named = {*report.FORMATS.get(command, ()), *report.FILES.get(command, {})}
        assert defined == {f"{n}_report" for n in named}, command
        for n in named:
            assert report.reporter(command, n) is getattr(module, f"{n}_report")
    registered = {(c, n) for c, names in report.FORMATS.items() for n in names}
    assert registered >= report.NAMES_USERS


def test_an_unknown_reporter_is_refused() -> None:
    with pytest.raises(KeyError, match="plan has no reporter 'junit'"):
        report.reporter("plan", "junit")


def test_importing_the_runner_or_the_parser_imports_no_reporter() -> None:
    probe = "import sys, runner.run, runner.cli; print(sorted(m for m in sys.modules if 'report' in m))"
    assert printed(probe) == "['runner.report']"  # the registry alone, without a reporter


def _reached(site: Site, args: list[str], fmt: str) -> str:
    done = site.invoke([*args, "--format", fmt])
    assert done.code in (0, 1), (args, fmt, done.err)
    if fmt == "json":
        json.loads(done.out)
    elif fmt == "text":
        assert done.out and not done.out.startswith("{"), (args, done.out)
    return done.out


def test_every_format_of_every_command_is_reached_from_the_command_line(site: Site) -> None:
    args = {
        "validate": ["validate"],
        "test": ["test"],
        "plan": ["plan", "--tenant", "demo", "--spec", "staff", "--out", os.fspath(site.root / "plan")],
        "run": ["run", "--tenant", "demo", "--spec", "staff"],
        "due": ["due"],
        "approve": ["approve", "--tenant", "demo", "--spec", "staff"],
        "history": ["history"],
    }
    assert set(args) == set(report.FORMATS)
    outputs = {(c, f): _reached(site, args[c], f) for c in args for f in report.FORMATS[c] if c != "approve"}
    assert outputs[("validate", "github")] == ""  # a valid project: no annotation
    assert json.loads(outputs[("plan", "json")])["plans"][0]["changes"]["lists"]["new"]  # the full lists
    assert "lists" not in outputs[("plan", "text")]
    nothing = site.invoke(["approve", "--tenant", "demo", "--spec", "staff", "--format", "json"])
    assert json.loads(nothing.out)["nothing_to_approve"].endswith("was ok, not held")
    text = site.invoke(["approve", "--tenant", "demo", "--spec", "staff"])
    assert (text.code, text.out) == (1, "") and text.err.startswith("nothing to approve: ")


def test_the_junit_files_are_written(site: Site, tmp_path: Path) -> None:
    chosen = {"validate": [], "test": [], "run": ["--tenant", "demo"]}
    assert set(chosen) == set(report.FILES)
    for command, more in chosen.items():
        path = tmp_path / command / "junit.xml"
        done = site.invoke([command, *more, "--junit", os.fspath(path)])
        assert done.code == 0, done.err
        suite = ET.parse(path).getroot().find("testsuite")  # noqa: S314 - our own report
        assert suite is not None and suite.get("name") == f"infiniti-sync {command}"
        assert int(suite.get("tests") or 0) > 0 and suite.get("failures") == "0"


def test_a_jobs_json_is_its_results_own(site: Site) -> None:
    """`run --format json` prints each result's to_json(); the archive's report.json, which runner.run
    writes without any reporter, is the same object."""
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff", "--format", "json"])
    [run] = json.loads(done.out)["runs"]
    assert json.loads((Path(run["archive"]) / "report.json").read_text(encoding="utf-8")) == run
