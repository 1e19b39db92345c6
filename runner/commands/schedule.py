"""`infiniti-sync schedule FORMAT [--out DIR]`: ready-made configuration that starts `run --all --due -q`
every few minutes on cron, systemd, Windows Task Scheduler or Kubernetes (runner/schedules/)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

from runner import project, schedules
from runner.atomic import replace_file
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.schedules import Emission, Needs, Setting

# The options that apply to some engines only, and those engines.
ONLY = {
    "env_file": ("cron", "systemd"),
    "log": ("cron",),
    "shards": ("kubernetes",),
    "image": ("kubernetes",),
    "namespace": ("kubernetes",),
    "workdir": ("cron", "systemd", "windows"),
    "executable": ("cron", "systemd", "windows"),
}
USERS = {"kubernetes": "10001"}
WINDOWS_INSTALL = "C:\\infiniti-sync"  # where the Windows defaults point when emitted elsewhere
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?")


def _check(args: argparse.Namespace) -> None:
    for option, formats in ONLY.items():
        if getattr(args, option) is not None and args.format not in formats:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} is for {' and '.join(formats)}, not {args.format}")
    if args.every < 1 or 60 % args.every:
        raise UsageError(
            f"--every {args.every}: give a number of minutes that divides an hour "
            "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60), so that every engine starts at the same minutes"
        )
    if args.shards is not None and args.shards < 1:
        raise UsageError("--shards must be at least 1")
    if not _NAME.fullmatch(args.name):
        raise UsageError(
            f"--name {args.name!r}: lowercase letters, digits and -, at most 52, starting and ending with "
            "a letter or digit (it names units, a task and Kubernetes objects)"
        )


def _executable(fmt: str) -> str:
    if fmt == "windows" and sys.platform != "win32":
        return f"{WINDOWS_INSTALL}\\venv\\Scripts\\infiniti-sync.exe"
    found = shutil.which("infiniti-sync")
    return os.path.abspath(found) if found else "/usr/local/bin/infiniti-sync"


def setting(args: argparse.Namespace, root: Path) -> Setting:
    """The Setting the command line gives, with each engine's defaults for what it leaves out."""
    defaults = Setting()
    workdir = (
        f"{WINDOWS_INSTALL}\\project" if args.format == "windows" and sys.platform != "win32" else str(root)
    )
    return Setting(
        name=args.name,
        every=args.every,
        user=args.user or USERS.get(args.format, defaults.user),
        workdir=args.workdir or workdir,
        executable=args.executable or _executable(args.format),
        env_file=args.env_file or defaults.env_file,
        log=args.log or defaults.log,
        shards=args.shards or 1,
        image=args.image or defaults.image,
        namespace=args.namespace or defaults.namespace,
    )


def write(emission: Emission, out: Path, *, force: bool) -> list[Path]:
    """Write the files into `out`, each to a temporary name first and renamed when complete, so that no
    file is ever half-written; existing files are replaced only with `force`."""
    targets = [out / f.name for f in emission.files]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''}",
            hint="pass --force to replace them, or choose another --out folder",
        )
    out.mkdir(parents=True, exist_ok=True)
    for emitted, target in zip(emission.files, targets, strict=True):
        replace_file(target, emitted.data(), mode=0o600)
    return targets


def execute(args: argparse.Namespace, console: Console) -> int:
    """Emit the schedule of FORMAT for the project: to standard output, or as files in --out."""
    _check(args)
    path = project.find(explicit=args.project)
    proj = project.load(path)
    needs = Needs.of(proj, project.read(path))
    emission = schedules.emit(args.format, setting(args, proj.root), needs)
    for note in emission.notes:
        console.error(f"warning: {note}")
    if args.out is not None:
        for target in write(emission, args.out, force=args.force):
            console.print(f"wrote {target}")
        return EXIT_OK
    several = len(emission.files) > 1
    for emitted in emission.files:
        if several:
            console.print(f"# ==> {emitted.name} <==")
        console.print(emitted.text.removesuffix("\n"))
    if any(f.encoding != "utf-8" for f in emission.files):
        console.message("note: Task Scheduler reads the file as UTF-16: write it with --out DIR")
    return EXIT_OK
