"""Scheduler configuration for `infiniti-sync schedule FORMAT`: what starts `run --all --due` every few
minutes on each engine (cron, systemd, Windows Task Scheduler, Kubernetes). The runner decides what is due
from the tenants' schedules and the state, and locks each job itself; the engine only starts it often.

    Needs.of(project, files)   what the project asks of the machine: secrets, writable folders, time zones
    Setting                    what the command line says: name, interval, user, paths, image, shards
    emit(format, setting, needs) -> Emission: the files (name, text, encoding) and notes for the person

One module per engine (cron, systemd, windows, kubernetes), each with `emit(setting, needs)`; none of them
writes or prints anything.
"""

from __future__ import annotations

import importlib
from dataclasses import field
from pathlib import Path
from typing import Any

from runner import __version__
from runner.files import Files
from runner.numbers import number
from runner.records import record
from runner.spec import Project, Secret

RUN = ("run", "--all", "--due", "-q")  # what every engine starts


@record
class Emitted:
    """One file of a schedule: its name, its text, and how it is written (`utf-16` means UTF-16 LE with a
    byte order mark and CRLF line ends, as Task Scheduler exports and reads them)."""

    name: str
    text: str
    encoding: str = "utf-8"

    def data(self) -> bytes:
        """The file's bytes as they are written."""
        if self.encoding == "utf-16":
            return b"\xff\xfe" + self.text.replace("\n", "\r\n").encode("utf-16-le")
        return self.text.encode(self.encoding)


@record
class Emission:
    """What an engine's emitter made: the files, and notes for the person (printed on standard error)."""

    files: tuple[Emitted, ...]
    notes: tuple[str, ...] = ()


@record
class Setting:
    """What the command line says about the schedule (the defaults are the command's)."""

    name: str = "infiniti-sync"
    every: int = 5  # minutes, a divisor of 60
    user: str = "infiniti-sync"
    workdir: str = "/srv/infiniti-sync"  # the project folder as the scheduling machine sees it
    executable: str = "/usr/local/bin/infiniti-sync"
    env_file: str = "/etc/infiniti-sync/env"
    log: str = "/var/log/infiniti-sync/run.log"
    shards: int = 1
    image: str = f"infiniti-sync:{__version__}"  # as docs/guides/scheduling.md builds it
    namespace: str = "infiniti-sync"


@record
class Needs:
    """What running this project asks of the machine, read from the project."""

    root: Path
    env: tuple[str, ...]  # environment variables the secrets read, sorted
    secret_files: tuple[Path, ...]  # files the secrets read, sorted
    state: str | Secret
    sqlite_state: Path | None  # the SQLite state file, when the state is one
    archive: Path | None
    timezone: str | None  # the project's `timezone:`
    zones: tuple[str, ...]  # every time zone named (project and tenants), sorted
    untimed: tuple[str, ...]  # tenants read in the machine's local time zone (none named for them)
    sources: tuple[Path, ...] = ()  # CSV files and folders the connections read
    ca_bundles: tuple[Path, ...] = ()
    files: tuple[tuple[Path, str], ...] = field(default=())  # project file, tenant files, specs: path, text
    keyrings: tuple[str, ...] = ()  # SERVICE/USERNAME of the secrets read from the keyring, sorted

    @classmethod
    def of(cls, project: Project, files: Files) -> Needs:
        """The needs of `project`, whose loaded `files` give its text and the keys not in the records yet."""
        secrets: list[object] = [s for t in project.tenants.values() for s in (t.password, t.url)]
        secrets += [c.url for t in project.tenants.values() for c in t.connections.values()]
        secrets.append(project.state)
        found = [s for s in secrets if isinstance(s, Secret)]
        raw = files.project.data if files.project and isinstance(files.project.data, dict) else {}
        zone = raw.get("timezone") if isinstance(raw.get("timezone"), str) else None
        tenant_zones = {name: _zone(raw_tenant) for name, raw_tenant in files.tenants().items()}
        return cls(
            root=project.root,
            env=tuple(sorted({s.env for s in found if s.env})),
            secret_files=tuple(sorted({s.file for s in found if s.file})),
            state=project.state,
            sqlite_state=_sqlite(project.state),
            archive=project.archive,
            timezone=zone,
            zones=tuple(sorted({z for z in (zone, *tenant_zones.values()) if z})),
            untimed=() if zone else tuple(sorted(n for n, z in tenant_zones.items() if not z)),
            sources=tuple(
                sorted({c.files for t in project.tenants.values() for c in t.connections.values() if c.files})
            ),
            ca_bundles=tuple(sorted({t.ca_bundle for t in project.tenants.values() if t.ca_bundle})),
            files=tuple(
                (doc.path, doc.text)
                for doc in [files.project, *files.tenant_files, *files.specs]
                if doc is not None
            ),
            keyrings=tuple(sorted({"/".join(s.keyring) for s in found if s.keyring})),
        )

    def writable(self) -> tuple[Path, ...]:
        """The folders a run writes in: the archive, and the SQLite state's folder (its lock file is
        beside it)."""
        found = [p for p in (self.archive, self.sqlite_state.parent if self.sqlite_state else None) if p]
        return tuple(
            p for p in dict.fromkeys(found) if not any(p.is_relative_to(o) and p != o for o in found)
        )


def _zone(raw: Any) -> str | None:
    value = raw.get("timezone") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _sqlite(state: str | Secret) -> Path | None:
    return Path(state) if isinstance(state, str) and "://" not in state else None


def zones_comment(needs: Needs) -> str:
    """Where the tenants' schedules are read, for the files' comments."""
    if not needs.untimed:
        return f"The tenants' schedules are read in their time zones ({', '.join(needs.zones)})."
    named = f" (the others: {', '.join(needs.zones)})" if needs.zones else ""
    return (
        f"Schedules are read in the tenant's or the project's timezone{named}; those of "
        f"{_some(needs.untimed)}, which have none, in the local time zone of the machine that runs them."
    )


def _some(names: tuple[str, ...], shown: int = 5) -> str:
    more = f" and {number(len(names) - shown)} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def emit(fmt: str, setting: Setting, needs: Needs) -> Emission:
    """The files of engine `fmt` (one of runner.engines.FORMATS)."""
    module: Any = importlib.import_module(f"runner.schedules.{fmt}")
    emission: Emission = module.emit(setting, needs)
    return emission
