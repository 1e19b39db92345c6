"""The command line: parse options, dispatch to one command module, turn exceptions into exit codes.

Heavy modules (Jinja, SQLAlchemy, jsonschema, urllib3) are imported only by the command that needs them,
so `infiniti-sync --version` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from runner import __version__, streams
from runner.console import Console
from runner.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OUTSIDE,
    EXIT_USAGE,
    SpecError,
    SyncError,
)

EPILOG = """exit codes: 0 all well, 1 a declared check did not hold, 2 usage error or invalid project/spec,
3 an outside failure stopped the work, 4 internal error (a bug; -v shows the traceback), 130 interrupted"""


def _formats(parser: argparse.ArgumentParser, *choices: str) -> None:
    parser.add_argument("--format", choices=choices, default="text", help="report format (default: text)")


def _tenant_spec(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tenant", action="append", default=[], metavar="T", help="only this tenant (repeatable)"
    )
    parser.add_argument(
        "--spec", action="append", default=[], metavar="S", help="only this spec (repeatable)"
    )


def _args_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec or project files (default: all)")
    _formats(p, "text", "json", "github")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")


def _args_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec files (default: all specs)")
    _formats(p, "text", "json")
    p.add_argument("--junit", metavar="FILE", type=Path, help="also write a JUnit XML report")


def _args_plan(p: argparse.ArgumentParser) -> None:
    _tenant_spec(p)
    p.add_argument("--out", metavar="DIR", type=Path, help="where to write the files")
    p.add_argument("--full", action="store_true", help="plan every row, even in incremental mode")
    _formats(p, "text", "json")


def _args_run(p: argparse.ArgumentParser) -> None:
    _tenant_spec(p)
    p.add_argument("--all", action="store_true", help="run every tenant")
    p.add_argument("--force", action="store_true", help="send even when a guard holds the run")
    p.add_argument("--full", action="store_true", help="send every row, even in incremental mode")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="tenants run at once")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for a lock")
    _formats(p, "text", "json")
    p.add_argument("--junit", metavar="FILE", type=Path, help="also write a JUnit XML report")


def _args_history(p: argparse.ArgumentParser) -> None:
    _tenant_spec(p)
    p.add_argument("--limit", type=int, default=20, metavar="N", help="runs to show (default 20)")
    _formats(p, "text", "json")


def _args_sandbox(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="FILE", help="sandbox config (default: demo)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8443, help="port (default 8443; 0 for any free)")
    p.add_argument("--no-tls", action="store_true", help="serve plain HTTP")
    p.add_argument("--data", type=Path, metavar="DIR", help="keep users and TLS files here")


def _args_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the demo project in DIR")


def _args_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("which", choices=["spec", "project"], nargs="?", default="spec")


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "validate": ("check the project file and specs, offline", _args_validate),
    "test": ("run the tests: cases inside specs", _args_test),
    "plan": ("write the files a run would send, and what changed; sends nothing", _args_plan),
    "run": ("plan, send to Infiniti, check the answer, record the run", _args_run),
    "history": ("recent runs with outcome and counts", _args_history),
    "sandbox": ("serve a local Infiniti that follows the autoSync contract", _args_sandbox),
    "demo": ("the whole pipeline on the example project against an in-process sandbox", _args_demo),
    "schema": ("print the JSON Schema of a spec or of the project file", _args_schema),
}


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
        help="only errors and results",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `infiniti-sync`."""
    parser = argparse.ArgumentParser(
        prog="infiniti-sync",
        description="Sync a Student Management System into Concord Infiniti with validated specs.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"infiniti-sync {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, add_arguments) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG)
        _global_options(command, suppress=True)
        add_arguments(command)
    return parser


def _report_error(console: Console, err: SyncError) -> None:
    if isinstance(err, SpecError):
        for problem in err.problems:
            console.error(str(problem))
        errors = sum(1 for p in err.problems if p.severity == "error")
        console.error(f"{errors} problem{'s' if errors != 1 else ''}; fix them and run again")
        return
    console.error(f"error: {err}")


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run `infiniti-sync` with `argv` and return the exit code."""
    streams.setup()
    console = console or Console()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) if isinstance(exit_.code, int) else EXIT_USAGE
    console.verbose, console.quiet = args.verbose, args.quiet
    console.progress = getattr(args, "format", "text") != "json"  # machines get no progress lines
    try:
        module = importlib.import_module(f"runner.commands.{args.command}")
        return int(module.execute(args, console))
    except SyncError as err:
        _report_error(console, err)
        return err.exit_code
    except KeyboardInterrupt:
        console.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`); nothing more to say
        return 0
    except OSError as err:  # the system refused a file the project names: too long a name, no permission
        console.error(f"error: cannot use {err.filename or 'a file'}: {err.strerror or err}")
        console.error("  hint: check the paths in the project file, and that this account may use them")
        return EXIT_OUTSIDE
    except Exception as err:  # the one place a bug becomes exit 4
        if console.verbose:
            console.error(traceback.format_exc().rstrip())
        console.error(f"internal error: {type(err).__name__}: {err}")
        if not console.verbose:
            console.error("this is a bug in infiniti-sync; run again with -v for the traceback")
        return EXIT_INTERNAL
