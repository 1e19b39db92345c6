"""The README and the documentation site (mkdocs.yml, docs/): the README stays short and starts with the two
commands; the reference pages runner/docsgen.py generates miss no command, option, exit code, error, schema
key or filter; every page is in the navigation; and the site builds with warnings as errors."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner import docsgen, errors, schema
from runner.cli import build_parser, main
from runner.console import Console
from runner.templates import FILTERS, environment

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# The two commands a newcomer runs first, on a fresh machine with Python 3.11.
DEMO = "python3 -m pip install . && infiniti-sync demo"
TESTS = "python3 -m pip install -e '.[test]' && python3 -m pytest"
# Pages other parts of the project write, which the navigation lists once they exist.
OTHERS = {"getting-started/init.md", "guides/report-page.md", "guides/contacts.md"}


def readme() -> str:
    return README.read_text("utf-8")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, in order."""
    return [(lang, body.strip()) for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def sections(page: str) -> dict[str, str]:
    """`## heading` -> the text under it, up to the next one."""
    parts = re.split(r"^## (.+)$", page, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


# The README.


def test_the_readme_is_under_10_kb() -> None:
    assert len(README.read_bytes()) < 10 * 1024


def test_the_readme_starts_with_the_two_commands() -> None:
    text = readme()
    assert code_blocks(text)[:2] == [("sh", DEMO), ("sh", TESTS)]
    before = text[: text.index(TESTS)]
    assert not re.search(r"^##", before, re.M), "nothing but the title and the two commands come first"


def test_the_readme_spec_validates(tmp_path: Path) -> None:
    [spec] = [body for lang, body in code_blocks(readme()) if lang == "yaml"]
    path = tmp_path / "specs" / "students.yaml"
    path.parent.mkdir()
    path.write_text(spec + "\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "--strict", str(path)], Console(out=out, err=err)) == 0, out.getvalue()


def test_the_readme_says_where_the_docs_are_and_how_to_build_them() -> None:
    text = readme()
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert "docs/index.md" in links
    for link in links:
        assert (ROOT / link).is_file(), link
    commands = [body for lang, body in code_blocks(text) if lang == "sh"]
    assert any("mkdocs build --strict" in body and "mkdocs serve" in body for body in commands)


def test_the_readme_names_every_exit_code() -> None:
    said = sections(readme())["Exit codes"]
    assert re.findall(r"(?:^|; )(\d+) ", said, re.M) == [str(code) for code in errors.EXIT_CODES]


# The generated reference.


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_the_commands_page_lists_every_command_and_option() -> None:
    parser = build_parser()
    page = sections(docsgen.commands(parser))
    global_options = page["Global options"]
    for option in (name for action in parser._actions for name in action.option_strings):
        if option not in ("-h", "--help"):
            assert f"`{option}`" in global_options, option
    commands = subcommands(parser)
    assert set(commands) <= set(page)
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            own = page[name] if action.default != argparse.SUPPRESS else global_options
            assert all(f"`{option}`" in own for option in action.option_strings), (name, action.dest)
            if action.help:
                assert docsgen._cell(action.help) in own, (name, action.dest)
            for choice in action.choices or ():
                assert str(choice) in own, (name, action.dest, choice)


def test_every_command_links_to_its_guide() -> None:
    missing = set(subcommands(build_parser())) ^ set(docsgen.GUIDES)
    assert missing == set(), "name each command's guide in runner/docsgen.py's GUIDES (and no other)"


def test_an_argument_is_written_as_the_usage_writes_it() -> None:
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("which", choices=["spec", "project"], nargs="?", default="spec")
    parser.add_argument("--keep", metavar="DIR", help="keep it in %(metavar)s")
    parser.add_argument("--force", action="store_true", help="replace | overwrite")
    arguments = {action.dest: action for action in parser._actions}
    assert docsgen._argument(arguments["paths"]) == "[PATH ...]"
    assert docsgen._argument(arguments["which"]) == "[{spec,project}]"
    assert docsgen._argument(arguments["force"]) == ""
    table = "\n".join(docsgen._table(list(arguments.values())))
    assert "| `--keep` `DIR` | keep it in DIR |  |" in table
    assert "| `--force` | replace \\| overwrite |  |" in table
    assert "| (positional) `[{spec,project}]` | one of `spec`, `project` | `spec` |" in table


def error_classes(cls: type[errors.SyncError]) -> Iterator[type[errors.SyncError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from error_classes(sub)


def test_the_exit_codes_page_lists_every_exit_code_and_error() -> None:
    page = docsgen.exit_codes()
    named = {name: value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    constants = {value for value in named.values() if isinstance(value, int)}
    assert constants == set(errors.EXIT_CODES)
    for code in constants:
        assert re.search(rf"^\| {code} \| \w", page, re.M), code
    classes = list(error_classes(errors.SyncError))
    assert len(classes) >= 9
    for cls in classes[1:]:
        assert re.search(rf"`{cls.__name__}` \| {cls.exit_code} \|", page), cls.__name__


def schema_keys(node: Any, defs: dict[str, Any] | None = None, skip: str = "") -> Iterator[tuple[str, str]]:
    """(key, description) of every property a schema holds; with `defs`, of those reachable from `node`,
    following each `$ref` into `defs` except `skip`; without, of every one anywhere, `$defs` included."""
    if isinstance(node, list):
        for item in node:
            yield from schema_keys(item, defs, skip)
    elif isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield key, value.get("description", "")
        ref = node.get("$ref", "")
        if defs is not None and ref.startswith("#/$defs/") and ref != skip:
            yield from schema_keys(defs[ref.removeprefix("#/$defs/")], defs, skip)
        for key, value in node.items():
            if defs is None or key != "$defs":
                yield from schema_keys(value, defs, skip)


@pytest.mark.parametrize(("path", "which"), docsgen.SCHEMA_PAGES.items())
def test_a_schema_page_lists_every_key_with_its_description(path: str, which: schema.Which) -> None:
    page = docsgen.schema_page(which)
    headings = re.findall(r"^#{2,3} `(.+)`$", page, re.M)
    named = {heading.rsplit(".", 1)[-1].removesuffix("[]") for heading in headings}
    document = json.loads(schema.text(which))
    # The project file's tenants are described once, on the tenant file's page.
    keys = list(schema_keys(document, document.get("$defs", {}), skip="#/$defs/tenant"))
    assert len(keys) > 20
    for key, description in keys:
        assert key in named, key
        assert description and description in page, key
    if which == "project":
        assert "[a tenant file](tenant-file.md)" in page


def test_every_schema_key_has_a_description() -> None:
    for which in docsgen.SCHEMA_PAGES.values():
        missing = [key for key, description in schema_keys(json.loads(schema.text(which))) if not description]
        assert missing == [], which


def test_the_filters_page_lists_every_filter_and_its_examples_hold() -> None:
    page = docsgen.filters()
    for name, func in FILTERS.items():
        assert re.search(rf"^\| `{name}[(`]", page, re.M), name
        doc = func.__doc__ or ""
        assert doc.split("\n\nExample: ")[0].split()[0] in page, name
    examples = 0
    for expression, pairs in re.findall(r"\| `(row\.\w+ \| [^`]+)`: ((?:`[^`]*` → `[^`]*`(?:, )?)+)", page):
        field = expression.split()[0].removeprefix("row.")
        template = environment().from_string("{{ " + expression + " }}")
        for given, made in re.findall(r"`([^`]*)` → `([^`]*)`", pairs):
            assert template.render(row={field: given}) == made, (expression, given)
            examples += 1
    assert examples >= 8


def test_a_page_marker_is_filled() -> None:
    guide = (DOCS / "guides" / "templates.md").read_text("utf-8")
    assert "<!-- generated: filters -->" in guide
    filled = docsgen.fill(guide)
    assert "<!-- generated:" not in filled
    assert all(f"`{name}" in filled for name in FILTERS)


# The site.


def nav_pages(nav: Any) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


def test_every_page_is_in_the_nav_once() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))
    listed = list(nav_pages(config["nav"]))
    assert len(listed) == len(set(listed))
    written = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    generated = set(docsgen.pages())
    assert not written & generated, "a generated page is not committed"
    assert set(listed) == written | generated


def test_the_site_output_is_ignored_and_outside_the_package() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))
    site = config["site_dir"]
    assert not (ROOT / site).resolve().is_relative_to(ROOT / "runner")
    assert f"/{site}/" in (ROOT / ".gitignore").read_text("utf-8").split()


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    if find_spec("mkdocs") is None or find_spec("material") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true needs MkDocs to build the documentation: pip install -e '.[docs]'")
        pytest.skip("MkDocs is not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr
    commands = (site / "reference" / "commands" / "index.html").read_text("utf-8")
    assert "--metrics-file" in commands
    templates = (site / "guides" / "templates" / "index.html").read_text("utf-8")
    assert "nonempty(fallback)" in templates
