"""The runner as a container runs it, and the image that carries it.

The container's conditions, all at once, on a real run against a sandbox process: the project folder
read-only, HOME unset, a user id with no passwd entry, temporary files only under TMPDIR, no terminal, the
state in PostgreSQL, `archive: false`. The run is a subprocess under `setpriv` as uid 54321 (no entry in
/etc/passwd) keeping one capability, CAP_DAC_READ_SEARCH, so that it can read this test run's Python (under
/root, closed to other users) but writes only where that uid may: it needs root to start, and skips
without it. The Dockerfile cannot be built here (no Docker daemon), so its stages are read, and the steps
of its install are run offline into a temporary virtual environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import stores
from tests.support.project import DEMO_ENV, Site, invoke
from tests.support.windows import posix_only

REPOSITORY = Path(__file__).resolve().parents[1]
UID = 54321  # no passwd entry on this machine (checked)
WORLD_WRITABLE = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))
BASE_PREFIX = "infiniti-sync-container-"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _owned(folder: Path, uid: int) -> list[Path]:
    """Every file and folder under `folder` that `uid` owns."""
    found = []
    for top, folders, files in os.walk(folder, onerror=lambda _: None):
        for name in folders + files:
            path = Path(top, name)
            try:
                if path.lstat().st_uid == uid:
                    found.append(path)
            except OSError:  # gone meanwhile
                continue
    return found


_CALL = re.compile(r"^\d+ +(?P<call>\w+)\((?P<args>.*)\) += (?P<result>-?\d+)")


def created(trace: Path) -> list[str]:
    """The paths a traced process created, made or renamed files to (the calls that succeeded)."""
    found = []
    for line in trace.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _CALL.match(line)
        if match is None or int(match["result"]) < 0:
            continue
        paths = re.findall(r'"((?:[^"\\]|\\.)*)"', match["args"])
        call = match["call"]
        if call.startswith(("open", "creat")) and ("O_CREAT" in match["args"] or call == "creat"):
            found.append(paths[0])
        elif call.startswith(("mkdir", "rename", "link", "symlink")):
            found.append(paths[-1])
    return found


def _ours(paths: set[Path], base: Path) -> set[Path]:
    """`paths` without those in another test run's base folder: a suite running beside this one, as the
    same uid UID, has its own `infiniti-sync-container-*` folder beside `base`."""

    def another_run(path: Path) -> bool:
        if not path.is_relative_to(base.parent) or path == base.parent:
            return False
        top = path.relative_to(base.parent).parts[0]
        return top.startswith(BASE_PREFIX) and top != base.name

    return {path for path in paths if not another_run(path)}


def _read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder any user may enter (the test's tmp_path is closed to others), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=BASE_PREFIX))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _as_nobody(
    args: list[str], cwd: Path, env: dict[str, str], trace: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m runner ARGS` as uid UID with no terminal, nothing of this environment but `env`; with
    `trace`, under strace, which writes there every file the process and its children create."""
    if os.geteuid() != 0:
        pytest.skip("starting a process as another user needs root")
    for tool in ("setpriv", *(["strace"] if trace else [])):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    with Path("/etc/passwd").open(encoding="utf-8") as passwd:
        assert all(line.split(":")[2] != str(UID) for line in passwd if line.count(":") >= 2)
    keep = ["--inh-caps", "+dac_read_search", "--ambient-caps", "+dac_read_search"]
    setpriv = ["setpriv", "--reuid", str(UID), "--regid", str(UID), "--clear-groups", *keep]
    calls = "trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat"
    strace = ["strace", "-f", "-qq", "-o", os.fspath(trace), "-e", calls] if trace else []
    return subprocess.run(  # noqa: PLW1510 - the callers assert the exit code
        [*strace, *setpriv, sys.executable, "-m", "runner", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="runs as another uid through Linux's setpriv, under strace"
)
def test_a_run_under_container_conditions(base: Path) -> None:
    site = Site.start(base / "project")
    store = stores.open_store("postgresql", base / "project")
    try:
        project = site.project_file
        store.use(project)
        _edit(project, "archive: .infiniti-sync/runs", "archive: false")
        _read_only(site.root)
        before = sorted(site.root.rglob("*"))
        tmpdir = base / "tmp"
        tmpdir.mkdir(mode=0o700)
        os.chown(tmpdir, UID, UID)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.fspath(REPOSITORY), "TMPDIR": os.fspath(tmpdir)}
        env |= {**DEMO_ENV, **store.env}  # HOME, XDG_* and INFINITI_SYNC_CACHE unset
        trace = base / "trace"
        done = _as_nobody(["run", "--tenant", "demo", "--format", "json"], site.root, env, trace)
        assert (done.returncode, done.stderr) == (0, "")
        made = created(trace)
        assert any(path.endswith("/sent.csv") for path in made)  # the trace sees the run's files
        assert [path for path in made if not path.startswith(f"{tmpdir}/")] == []
        runs = json.loads(done.stdout)["runs"]
        assert [(r["spec"], r["outcome"], r["archive"]) for r in runs] == [
            ("students", "ok", None),
            ("staff", "ok", None),
            ("guardians", "ok", None),
        ]
        assert len(site.sandbox.users("demo")) == 35
        assert list(tmpdir.iterdir()) == []  # the run's files were under TMPDIR, and are gone
        owned = {path for folder in (*WORLD_WRITABLE, base) for path in _owned(folder, UID)}
        assert _ours(owned, base) == {tmpdir}  # nothing of the run's is left anywhere else it could write
        assert sorted(site.root.rglob("*")) == before  # the project folder is as it was
        history = _as_nobody(["history", "--format", "json"], site.root, env)
        assert history.returncode == 0, history.stderr
        assert [(r["spec"], r["outcome"], r["archive"]) for r in json.loads(history.stdout)["runs"]] == [
            ("guardians", "ok", None),
            ("staff", "ok", None),
            ("students", "ok", None),
        ]
    finally:
        store.drop()
        site.stop()


def test_without_an_archive_the_report_still_goes_to_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site.start(tmp_path / "project")
    try:
        _edit(site.project_file, "archive: .infiniti-sync/runs", "archive: false")
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", os.fspath(scratch))
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
        assert (done.code, done.err) == (0, "")
        assert done.out.startswith("demo/staff: ok: 6 read; 6 sent; 6 created")
        assert "archive" not in done.out
        assert not (site.root / ".infiniti-sync" / "runs").exists()
        assert list(scratch.iterdir()) == []
    finally:
        site.stop()


# --- the image ------------------------------------------------------------------------------------


def _stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuation lines joined) by stage: (INSTRUCTION, arguments)."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def test_the_dockerfile_builds_a_wheel_and_runs_it_as_a_user_that_is_not_root() -> None:
    build, final = _stages((REPOSITORY / "Dockerfile").read_text(encoding="utf-8"))
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert ("COPY", "runner ./runner") in build
    assert any(i == "RUN" and "pip wheel" in a and "--no-deps" in a for i, a in build)
    assert final[0] == ("FROM", "python:3.11-slim")
    [install] = [a for i, a in final if i == "RUN"]
    assert "python -m venv /opt/infiniti-sync" in install
    assert '"$(echo /wheels/infiniti_sync-*.whl)[postgres,metrics]"' in install
    assert "--uid 10001" in install  # the user kubernetes.py's pods run as
    assert dict(final)["USER"] == "10001:10001"
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["infiniti-sync"]
    assert dict(final)["WORKDIR"] == "/project"
    ignored = (REPOSITORY / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert [line for line in ignored if line.startswith("!")] == ["!pyproject.toml", "!README.md", "!runner/"]


@pytest.mark.slow
@posix_only("the image is Linux, and its virtual environment's commands need an executable file mode")
def test_the_image_install_works_offline(tmp_path: Path) -> None:
    """The Dockerfile's two steps, with what this machine has installed instead of PyPI: the wheel of the
    build stage's files, then that wheel with the postgres extra into a new virtual environment, whose
    infiniti-sync then runs the demo."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPOSITORY / name, source / name)
    shutil.copytree(REPOSITORY / "runner", source / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    offline = ["--no-index", "--no-cache-dir", "--quiet"]
    pip = [sys.executable, "-m", "pip"]
    wheel = [*pip, "wheel", *offline, "--no-deps", "--no-build-isolation", "--wheel-dir", "wheels", "."]
    subprocess.run(wheel, cwd=source, check=True, capture_output=True)
    [built] = (source / "wheels").glob("infiniti_sync-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    install = [
        os.fspath(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        *offline,
        f"{built}[postgres,metrics]",
    ]
    # Without the caller's PYTHONPATH: a source tree on it (with the egg-info an editable install leaves)
    # would look installed already to the new environment's pip, which would then install nothing.
    isolated = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(install, check=True, capture_output=True, env=isolated)
    command = venv / "bin" / "infiniti-sync"
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": os.fspath(tmp_path)}
    version = subprocess.run(
        [command, "--version"], env=env, check=True, capture_output=True, encoding="utf-8"
    )
    assert version.stdout == "infiniti-sync 0.1.0\n"
    demo = subprocess.run(
        [command, "demo"], cwd=tmp_path, env=env, capture_output=True, encoding="utf-8", check=False
    )
    assert demo.returncode == 0, demo.stderr
    assert "demo/students: ok" in demo.stdout


def test_plan_works_without_an_archive(tmp_path: Path) -> None:
    """`archive: false` changes nothing for a command that never wrote an archive."""
    site = Site.start(tmp_path / "project")
    try:
        _edit(site.project_file, "archive: .infiniti-sync/runs", "archive: false")
        done = invoke(site.root, ["plan", "--spec", "staff", "--out", os.fspath(tmp_path / "plan")])
        assert done.code == 0, done.err
        assert (tmp_path / "plan" / "demo" / "staff.csv").is_file()
    finally:
        site.stop()
