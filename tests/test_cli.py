"""The command line itself: version, help, exit codes of usage errors, `python -m runner`."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from runner import __version__
from runner.cli import COMMANDS, build_parser, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"infiniti-sync {__version__}\n"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--version"], capture_output=True, encoding="utf-8", check=False
    )
    assert (done.returncode, done.stdout) == (0, f"infiniti-sync {__version__}\n")


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_examples_that_parse_and_where_the_documentation_is(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(capsys, *([command] if command else []))
    examples = text.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert examples and all(line.startswith("  infiniti-sync ") for line in examples)
    assert text.rstrip().endswith("documentation: README.md and the docs/ folder of infiniti-sync's source")
    parser = build_parser()
    for line in examples:
        for one in line.split("#", 1)[0].split("&&"):
            words = shlex.split(one.split(">", 1)[0])[1:]
            if words != ["COMMAND", "--help"]:
                args = parser.parse_args(words)  # a real command line: the parser takes it as it is
                assert args.command == (command or args.command), line


def test_a_refused_choice_names_the_argument_as_the_usage_does_and_the_likely_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema", "projct"]) == 2
    err = capsys.readouterr().err
    assert "usage: infiniti-sync schema " in err and "[KIND]" in err and "which" not in err
    assert err.endswith(
        "infiniti-sync schema: error: argument KIND: invalid choice: 'projct' "
        "(choose from 'spec', 'project', 'tenant')\n  hint: did you mean project?\n"
    )
    assert main(["rnu", "--all"]) == 2
    assert capsys.readouterr().err.endswith("  hint: did you mean run?\n")
    assert main(["schema", "zzzzzz"]) == 2
    assert "hint" not in capsys.readouterr().err  # nothing is close: no guess


@pytest.mark.parametrize("typo", [["--sepc", "staff"], ["--sepc=staff"]])
def test_a_misspelt_option_gets_the_command_usage_and_a_did_you_mean(
    typo: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--tenant", "stmarys", *typo]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: infiniti-sync run ")
    assert err.endswith(
        f"infiniti-sync run: error: unrecognized arguments: {' '.join(typo)}\n  hint: did you mean --spec?\n"
    )


@pytest.mark.parametrize("typo", [["--form", "export"], ["--form=export"]])
def test_a_misspelt_required_option_is_named_beside_the_missing_one(
    typo: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse complains of the missing required option before the unknown one: the hint names it."""
    assert main(["init", "school", *typo]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: infiniti-sync init ")
    assert err.endswith(
        "infiniti-sync init: error: the following arguments are required: --from\n"
        "  hint: did you mean --from?\n"
    )
    assert main(["init", "school"]) == 2
    assert capsys.readouterr().err.endswith("the following arguments are required: --from\n")  # no guess


def test_an_unrecognized_argument_without_a_likely_option_is_said_as_argparse_says_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", "--frobnicate-everything", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.endswith("infiniti-sync validate: error: unrecognized arguments: --frobnicate-everything\n")
