"""The command line: parse options, dispatch to one command module, turn exceptions into exit codes.

Heavy modules (Jinja, SQLAlchemy, jsonschema, urllib3) are imported only by the command that needs them,
so `infiniti-sync --version` starts fast.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from runner import __version__, report, streams
from runner.console import LOG_FORMATS, Console, Fields, LogFormat
from runner.engines import FORMATS
from runner.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OUTSIDE,
    EXIT_USAGE,
    SpecError,
    SyncError,
)
from runner.numbers import plural
from runner.suggest import did_you_mean

EXIT_CODES = """exit codes: 0 all well, 1 a declared check did not hold, 2 usage error or invalid project or
  spec, 3 an outside failure stopped the work, 4 internal error (a bug; -v shows the traceback),
  130 interrupted"""
DOCUMENTATION = "documentation: README.md and the docs/ folder of infiniti-sync's source"


def _formats(parser: argparse.ArgumentParser, command: str) -> None:
    """--format with the command's reporters (runner.report), and --junit FILE where it has that one."""
    choices = report.FORMATS[command]
    parser.add_argument(
        "--format", choices=choices, default=choices[0], help=f"report format (default: {choices[0]})"
    )
    for name, help_text in report.FILES.get(command, {}).items():
        parser.add_argument(f"--{name}", metavar="FILE", type=Path, help=help_text)


def _tenants(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tenant", action="append", default=[], metavar="T", help="only this tenant (repeatable)"
    )


def _tenant_spec(parser: argparse.ArgumentParser) -> None:
    _tenants(parser)
    parser.add_argument(
        "--spec", action="append", default=[], metavar="S", help="only this spec (repeatable)"
    )


def _args_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec or project files (default: all)")
    _formats(p, "validate")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")


def _args_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec files (default: all specs)")
    _formats(p, "test")


def _args_plan(p: argparse.ArgumentParser) -> None:
    _tenant_spec(p)
    p.add_argument("--out", metavar="DIR", type=Path, help="where to write the files")
    p.add_argument("--full", action="store_true", help="plan every row, even in incremental mode")
    _formats(p, "plan")


def _shard(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shard", metavar="I/N", help="only the tenants of shard I of N (0 <= I < N), by a hash of the name"
    )


def _args_run(p: argparse.ArgumentParser) -> None:
    _tenant_spec(p)
    p.add_argument("--all", action="store_true", help="run every tenant")
    p.add_argument("--due", action="store_true", help="only the jobs whose schedule says they are due")
    _shard(p)
    p.add_argument("--force", action="store_true", help="send even when a guard holds the run")
    p.add_argument("--full", action="store_true", help="send every row, even in incremental mode")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="tenants run at once")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for a lock")
    _formats(p, "run")
    p.add_argument(
        "--metrics-file",
        metavar="PATH",
        type=Path,
        help="also write Prometheus metrics of every job's last run (node_exporter's textfile collector)",
    )


def _args_due(p: argparse.ArgumentParser) -> None:
    _tenant_spec(p)
    p.add_argument(
        "--at", metavar="TIME", help="ISO 8601 with an offset, e.g. 2026-12-01T15:16:00Z (default: now)"
    )
    _shard(p)
    _formats(p, "due")


def _args_approve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tenant", required=True, metavar="T", help="the tenant of the held job")
    p.add_argument("--spec", required=True, metavar="S", help="the spec of the held job")
    p.add_argument(
        "--for",
        dest="for_",
        default="24h",
        metavar="DURATION",
        help="how long it waits: 30m, 12h, 2d (default 24h)",
    )
    _formats(p, "approve")


def _args_history(p: argparse.ArgumentParser) -> None:
    _tenant_spec(p)
    p.add_argument("--limit", type=int, default=20, metavar="N", help="runs to show (default 20)")
    _formats(p, "history")


def _args_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--html", required=True, type=Path, metavar="DIR", help="write the site into DIR")
    _tenants(p)
    p.add_argument(
        "--since",
        default="30d",
        metavar="DURATION",
        help="runs started this long ago or later: 12h, 7d (default 30d)",
    )


def _args_sandbox(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="FILE", help="sandbox config (default: demo)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8443, help="port (default 8443; 0 for any free)")
    p.add_argument("--no-tls", action="store_true", help="serve plain HTTP")
    p.add_argument("--data", type=Path, metavar="DIR", help="keep users and TLS files here")


def _args_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the demo project in DIR")


def _args_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", type=Path, default=Path(), metavar="DIR", help="where (default: here)")
    p.add_argument(
        "--from",
        dest="from_",
        required=True,
        metavar="SOURCE",
        help="the export: a folder of CSV files, one CSV file, or a database URL",
    )
    p.add_argument("--tenant", default="school", metavar="T", help="the tenant's name (default school)")


def _args_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "which",
        choices=["spec", "project", "tenant"],
        nargs="?",
        default="spec",
        metavar="KIND",
        help="spec, project or tenant (default: spec)",
    )


def _args_schedule(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=FORMATS, metavar="FORMAT", help=f"the engine: {', '.join(FORMATS)}")
    p.add_argument("--out", metavar="DIR", type=Path, help="write the files here (default: standard output)")
    p.add_argument("--force", action="store_true", help="replace files that exist in --out")
    p.add_argument(
        "--every", type=int, default=5, metavar="MINUTES", help="start every N minutes (default 5)"
    )
    p.add_argument(
        "--name", default="infiniti-sync", help="of the units, task or objects (default infiniti-sync)"
    )
    p.add_argument("--user", help="the account runs belong to (Kubernetes: its number; default 10001)")
    p.add_argument("--workdir", metavar="DIR", help="the project folder there (default: this project's)")
    p.add_argument("--executable", metavar="PATH", help="the infiniti-sync command there")
    p.add_argument("--env-file", metavar="FILE", help="NAME=value lines for the secrets (cron, systemd)")
    p.add_argument("--log", metavar="FILE", help="cron: the log file")
    p.add_argument("--shards", type=int, metavar="N", help="kubernetes: pods, each on a slice of the tenants")
    p.add_argument("--image", help="kubernetes: the container image")
    p.add_argument("--namespace", metavar="NS", help="kubernetes: the namespace (default infiniti-sync)")


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "validate": ("check the project file and specs, offline", _args_validate),
    "test": ("run the tests: cases inside specs", _args_test),
    "plan": ("write the files a run would send, and what changed; sends nothing", _args_plan),
    "run": ("plan, send to Infiniti, check the answer, record the run", _args_run),
    "due": ("the jobs whose schedule says they are due; changes nothing", _args_due),
    "approve": ("let the change the last held run found through on the next run, once", _args_approve),
    "history": ("recent runs with outcome and counts", _args_history),
    "report": ("a static HTML site of every job's health and recent runs; changes nothing", _args_report),
    "sandbox": ("serve a local Infiniti that follows the autoSync contract", _args_sandbox),
    "demo": ("the whole pipeline on the example project against an in-process sandbox", _args_demo),
    "init": ("a starting project from an export: OneRoster, School Data Sync or another", _args_init),
    "schema": ("print the JSON Schema of a spec, the project file or a tenant file", _args_schema),
    "schedule": (
        "configuration for cron, systemd, Task Scheduler or Kubernetes to run what is due",
        _args_schedule,
    ),
}


# A few real command lines of each command (of infiniti-sync itself: ""), for its --help.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "infiniti-sync demo                          # the whole pipeline on the example project",
        "infiniti-sync validate && infiniti-sync test",
        "infiniti-sync plan --out plan/              # the files a run would send; sends nothing",
        "infiniti-sync run --all",
        "infiniti-sync COMMAND --help                # the options and examples of one command",
    ),
    "validate": (
        "infiniti-sync validate                      # the project file and every spec",
        "infiniti-sync validate specs/staff.yaml --strict",
        "infiniti-sync validate --format github      # annotations in a GitHub Actions job",
    ),
    "test": (
        "infiniti-sync test                          # every spec's tests: cases",
        "infiniti-sync test specs/students.yaml --junit reports/tests.xml",
    ),
    "plan": (
        "infiniti-sync plan --out plan/              # every tenant and spec, files kept in plan/",
        "infiniti-sync plan --tenant stmarys --spec staff --format json",
    ),
    "run": (
        "infiniti-sync run --tenant stmarys          # every spec of one tenant",
        "infiniti-sync run --tenant stmarys --spec staff",
        "infiniti-sync run --all --due -q            # what a scheduler starts every few minutes",
        "infiniti-sync run --all --jobs 4 --format json --junit reports/sync.xml",
    ),
    "due": (
        "infiniti-sync due",
        "infiniti-sync due --at 2026-12-05T16:05:00Z --format json",
    ),
    "approve": (
        "infiniti-sync approve --tenant stmarys --spec staff",
        "infiniti-sync approve --tenant stmarys --spec staff --for 2d --format json",
    ),
    "history": (
        "infiniti-sync history",
        "infiniti-sync history --tenant stmarys --spec staff --limit 5 --format json",
    ),
    "report": (
        "infiniti-sync report --html site/                  # every tenant and spec",
        "infiniti-sync report --html site/ --tenant stmarys --since 7d",
    ),
    "sandbox": (
        "infiniti-sync sandbox                       # the demo's users, https://127.0.0.1:8443",
        "infiniti-sync sandbox --config sandbox.yaml --port 0 --data .sandbox",
    ),
    "demo": (
        "infiniti-sync demo",
        "infiniti-sync demo --keep my-project        # keep the example project to start from",
    ),
    "init": (
        "infiniti-sync init my-school --from exports/oneroster/   # a project from a CSV export folder",
        "infiniti-sync init --from 'postgresql://sync@sms.example.edu/sms' --tenant stmarys",
    ),
    "schema": (
        "infiniti-sync schema spec > schemas/sync-spec.schema.json",
        "infiniti-sync schema project > schemas/project.schema.json",
    ),
    "schedule": (
        "infiniti-sync schedule cron --every 10",
        "infiniti-sync schedule systemd --out /etc/systemd/system --user sync",
        "infiniti-sync schedule kubernetes --shards 4 --image registry.example/infiniti-sync:1 --out k8s/",
    ),
}


def _epilog(command: str = "") -> str:
    """The end of a --help: the command's examples (infiniti-sync's own: ""), the exit codes, where the
    documentation is."""
    examples = EXAMPLES.get(command, ())
    parts = ["examples:\n" + "\n".join(f"  {line}" for line in examples)] if examples else []
    return "\n\n".join([*parts, EXIT_CODES, DOCUMENTATION])


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--project",
        type=Path,
        default=default,
        metavar="PATH",
        help="project file or its folder (default: nearest infiniti-sync.yaml upwards)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="more detail; tracebacks for internal errors",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="only what needs a person: problems, one line each; nothing when all is well",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=argparse.SUPPRESS if suppress else "text",
        help="messages on standard error as text lines or one JSON object per line (default: text)",
    )


class _BadUsage(Exception):
    """A command line argparse refused: its usage and its complaint, for the console to write."""

    def __init__(self, usage: str, complaint: str):
        super().__init__(complaint)
        self.usage, self.complaint = usage, complaint


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors are raised, not written to standard error by argparse, and
    whose refused choices say which one was meant."""

    def error(self, message: str) -> NoReturn:
        raise _BadUsage(self.format_usage().rstrip(), f"{self.prog}: error: {message}")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        choices = ", ".join(repr(c) for c in action.choices)
        raise argparse.ArgumentError(
            action, f"invalid choice: {value!r} (choose from {choices})" + _meant(value, action.choices)
        )


def _meant(word: str, choices: Iterable[str]) -> str:
    """The hint line naming the choice `word` is a likely typo of, or ""."""
    guess = did_you_mean(word, choices)
    return f"\n  hint: did you mean {guess}?" if guess else ""


_UNRECOGNIZED = "unrecognized arguments: "


def _unrecognized(parser: argparse.ArgumentParser, argv: Sequence[str], bad: _BadUsage) -> _BadUsage:
    """An "unrecognized arguments" complaint with the usage of the command it was given to and, for a
    misspelt option (`--sepc`), the option it is a likely typo of; a complaint of a missing required option
    (`init --form x` misses --from) names the likely typo too."""
    if _REQUIRED in bad.complaint:
        return _misspelt_required(parser, argv, bad)
    if _UNRECOGNIZED not in bad.complaint:
        return bad
    try:
        known, unknown = parser.parse_known_args(argv)
    except _BadUsage:
        return bad
    command = _subparsers(parser).get(getattr(known, "command", None) or "", parser)
    options = [o for action in command._actions for o in action.option_strings if o.startswith("--")]
    hints = "".join(_meant(arg.split("=", 1)[0], options) for arg in unknown if arg.startswith("--"))
    return _BadUsage(
        command.format_usage().rstrip(), f"{command.prog}: error: {_UNRECOGNIZED}{' '.join(unknown)}{hints}"
    )


_REQUIRED = "the following arguments are required: "


def _misspelt_required(parser: argparse.ArgumentParser, argv: Sequence[str], bad: _BadUsage) -> _BadUsage:
    """`bad` (a required option missing) with a hint for each option given that the command does not have
    but is a likely typo of one it has."""
    commands = _subparsers(parser)
    command = next((commands[arg] for arg in argv if arg in commands), parser)
    options = [o for action in command._actions for o in action.option_strings if o.startswith("--")]
    given = [arg.split("=", 1)[0] for arg in argv if arg.startswith("--")]
    hints = "".join(_meant(arg, options) for arg in given if arg not in options)
    return _BadUsage(bad.usage, bad.complaint + hints) if hints else bad


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parsers of the commands, by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _log_format(argv: Sequence[str]) -> LogFormat:
    """The --log-format of a command line argparse refused (text unless json is asked for)."""
    for i, arg in enumerate(argv):
        if arg == "--log-format=json" or (arg == "--log-format" and argv[i + 1 : i + 2] == ["json"]):
            return "json"
    return "text"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `infiniti-sync`."""
    parser = _Parser(
        prog="infiniti-sync",
        description="Sync a Student Management System into Concord Infiniti with validated specs.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"infiniti-sync {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, add_arguments) in COMMANDS.items():
        command = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _global_options(command, suppress=True)
        add_arguments(command)
    return parser


def _report_error(console: Console, err: SyncError) -> None:
    """An error that stopped the command: each problem of an invalid project, or the error."""
    if isinstance(err, SpecError):
        for problem in err.problems:
            console.log(problem.severity, "problem", str(problem))
        errors = sum(1 for p in err.problems if p.severity == "error")
        if not console.quiet:
            console.error(f"{plural(errors, 'problem')}; fix them and run again")
        return
    console.error(f"error: {err}", about=Fields(err.where.tenant, err.where.spec))


def _started() -> None:
    """Set aside, out of the cycle collector's sight, what start-up made: modules, classes and the parser
    live until the process ends, yet each full collection walked them all again (one such pass took 30 ms
    of a small run). Objects made after this are collected as usual."""
    gc.freeze()
    gc.enable()


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run `infiniti-sync` with `argv` (default: the process's own command line) and return the exit
    code."""
    if argv is not None or not gc.isenabled():  # called by a program (a test) that has objects of its own
        return _main(argv, console, started=lambda: None)
    gc.disable()  # the process's own command: no collection until start-up is over, see _started()
    try:
        return _main(argv, console, started=_started)
    finally:
        gc.enable()


def _main(argv: Sequence[str] | None, console: Console | None, started: Callable[[], None]) -> int:
    """main(), calling `started` once the command's module is imported."""
    streams.setup()
    console = console or Console()
    parser = build_parser()
    given = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(given)
    except _BadUsage as refused:
        bad = _unrecognized(parser, given, refused)
        console.log_format = _log_format(given)
        text = bad.complaint if console.log_format == "json" else f"{bad.usage}\n{bad.complaint}"
        console.error(text, event="usage")
        return EXIT_USAGE
    except SystemExit as exit_:
        return int(exit_.code or 0) if isinstance(exit_.code, int) else EXIT_USAGE
    console.verbose, console.quiet, console.log_format = args.verbose, args.quiet, args.log_format
    console.progress = getattr(args, "format", "text") != "json"  # machines get no progress lines
    try:
        module = importlib.import_module(f"runner.commands.{args.command}")
        started()
        return int(module.execute(args, console))
    except SyncError as err:
        _report_error(console, err)
        return err.exit_code
    except KeyboardInterrupt:
        console.error("interrupted", event="interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        console.reader_gone()
        return 0
    except OSError as err:  # the system refused a file the project names: too long a name, no permission
        console.error(
            f"error: cannot use {err.filename or 'a file'}: {err.strerror or err}\n"
            "  hint: check the paths in the project file, and that this account may use them"
        )
        return EXIT_OUTSIDE
    except Exception as err:  # the one place a bug becomes exit 4
        if console.verbose:
            import traceback  # only for a bug

            console.log("debug", "traceback", traceback.format_exc().rstrip())
        text = f"internal error: {type(err).__name__}: {err}"
        if not console.verbose:
            text += "\nthis is a bug in infiniti-sync; run again with -v for the traceback"
        console.error(text, event="internal-error")
        return EXIT_INTERNAL
