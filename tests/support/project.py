"""A project pointed at a sandbox process, and `infiniti-sync` commands run on it in this process.

    site = Site.start(tmp_path, overlay=CASE_FOLDER, config=CASE_FOLDER / "sandbox.yaml")
    done = site.invoke(["run", "--tenant", "demo"], env={"INFINITI_DEMO_PASSWORD": "change-me"})
    done.code, done.out, done.err      # exit code, standard output, standard error
    site.sandbox.users("demo")
    site.stop()

The project is a copy of the shipped example (`runner/example`) with the files of `overlay` laid over
it. Project files are written for a sandbox at `https://127.0.0.1:8443` (the example's url); the copy
points at the sandbox actually started, whose folder is the project's `.infiniti-sync/sandbox` (so the
example's `ca_bundle: .infiniti-sync/sandbox/ca.pem` is its CA). `normalise()` turns the varying parts
of an output (that url, the project folder, archive time stamps) back into fixed text.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from runner.cli import main
from runner.console import Console
from tests.support.sandbox import SandboxProcess, start_sandbox_process
from tests.support.windows import slashed

EXAMPLE = Path(__file__).resolve().parents[2] / "runner" / "example"
WRITTEN_URL = "https://127.0.0.1:8443"
DEMO_ENV = {"INFINITI_DEMO_PASSWORD": "change-me"}
CASE_FILES = frozenset({"case.yaml", "sandbox.yaml"})  # files of a case folder that are not project files
_STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z-\d+")


@dataclass(frozen=True)
class Done:
    """What a command did: its exit code and everything it wrote."""

    code: int
    out: str
    err: str


def copy_project(folder: Path, overlay: Path | None = None) -> Path:
    """The example project copied to `folder`, `overlay`'s files laid over it; returns the project file."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE / "infiniti-sync.yaml", folder / "infiniti-sync.yaml")
    for name in ("specs", "sms-export"):
        shutil.copytree(EXAMPLE / name, folder / name)
    if overlay is not None:
        for path in sorted(overlay.rglob("*")):
            relative = path.relative_to(overlay)
            if path.is_dir() or relative.as_posix() in CASE_FILES:
                continue
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, folder / relative)
    return folder / "infiniti-sync.yaml"


def invoke(root: Path, args: Sequence[str], env: Mapping[str, str | None] = DEMO_ENV) -> Done:
    """`infiniti-sync ARGS --project ROOT` in this process, in ROOT, with `env` set (None: unset)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        patch.chdir(root)
        code = main([*args, "--project", os.fspath(root)], Console(out=out, err=err))
    return Done(code, out.getvalue(), err.getvalue())


def point_at(project_file: Path, url: str) -> None:
    """Rewrite the project file's sandbox url to `url`."""
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(text.replace(WRITTEN_URL, url), encoding="utf-8")


@dataclass
class Site:
    """A project folder and the sandbox process it talks to."""

    root: Path
    sandbox: SandboxProcess
    log: IO[str]

    @classmethod
    def start(cls, folder: Path, *, overlay: Path | None = None, config: Path | None = None) -> Site:
        """Copy the project into `folder` and start its sandbox (`config`, or the demo tenant)."""
        project_file = copy_project(folder, overlay)
        log = (folder.parent / f"{folder.name}-sandbox.log").open("w", encoding="utf-8")
        data = folder / ".infiniti-sync" / "sandbox"
        sandbox = start_sandbox_process(data, config=config, log=log)
        point_at(project_file, sandbox.url)
        return cls(folder, sandbox, log)

    @property
    def project_file(self) -> Path:
        """The project file."""
        return self.root / "infiniti-sync.yaml"

    def restart_sandbox(self, config: Path | None) -> None:
        """Stop the sandbox and start it again with `config` (None: the demo tenant) on the same data
        (users, TLS files), on a new port the project is pointed at."""
        old_url = self.sandbox.url
        self.sandbox.stop()
        self.sandbox = start_sandbox_process(
            self.root / ".infiniti-sync" / "sandbox", config=config, log=self.log
        )
        text = self.project_file.read_text(encoding="utf-8")
        self.project_file.write_text(text.replace(old_url, self.sandbox.url), encoding="utf-8")

    def stop(self) -> None:
        """Stop the sandbox."""
        try:
            self.sandbox.stop()
        finally:
            self.log.close()

    def invoke(self, args: Sequence[str], env: Mapping[str, str | None] = DEMO_ENV) -> Done:
        """`infiniti-sync ARGS --project ROOT` in this process, with `env` set (None: unset)."""
        return invoke(self.root, args, env)

    def normalise(self, text: str) -> str:
        """`text` with this site's url, folder and time stamps written as the case files write them."""
        text = text.replace(self.sandbox.url, WRITTEN_URL)
        text = slashed(text, [os.fspath(self.root)]).replace(os.fspath(self.root), "PROJECT")
        return _STAMP.sub("STAMP", text)

    def imports(self) -> list[str]:
        """How the sandbox answered each import request so far, from its log: the HTTP status, or
        `dropped` for a connection closed by an injected fault."""
        self.log.flush()
        answers = []
        for line in (
            (self.root.parent / f"{self.root.name}-sandbox.log").read_text(encoding="utf-8").splitlines()
        ):
            if "dropped the connection" in line:
                answers.append("dropped")
            elif '"POST /api/import/' in line:
                answers.append(line.split('" ')[-1].split()[0])
        return answers

    def runs(self, tenant: str, spec: str) -> list[Path]:
        """The archived runs of `tenant` and `spec`, oldest first."""
        folder = self.root / ".infiniti-sync" / "runs" / tenant / spec
        return sorted(p for p in folder.iterdir() if p.is_dir())


@pytest.fixture(name="site")
def example_site_fixture(tmp_path: Path) -> Iterator[Site]:
    """The example project and a sandbox process with the demo tenant (use: `site = example_site_fixture`)."""
    running = Site.start(tmp_path / "project")
    try:
        yield running
    finally:
        running.stop()


SEVERAL = Path(__file__).parent.parent / "run_cases" / "several-tenants-one-failing"


@pytest.fixture(name="several")
def several_tenants_fixture(tmp_path: Path) -> Iterator[Site]:
    """Tenants north (ok), south (no Staff group: its rows fail) and west, each running the staff spec
    (use: `several = several_tenants_fixture`)."""
    running = Site.start(tmp_path / "project", overlay=SEVERAL, config=SEVERAL / "sandbox.yaml")
    try:
        yield running
    finally:
        running.stop()


def edit_project(site: Site, old: str, new: str) -> None:
    """Replace `old` (which must be there) by `new` in the site's project file."""
    text = site.project_file.read_text(encoding="utf-8")
    assert old in text
    site.project_file.write_text(text.replace(old, new), encoding="utf-8")
