"""Finding, reading and building a project: the project file, its tenant files (`tenants: FOLDER`), its
specs folder, and the records. A tenant file holds what an entry of the `tenants:` mapping holds, its name
is the file's name, and paths in it are relative to the project file's folder, as in the mapping.

`load()` is what every command but `validate` starts with: it validates everything (raising SpecError
with every problem when something is wrong; files that passed before with no problem are not validated
again, see runner/checked.py) and returns the immutable Project.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from runner import checked, stateurl
from runner.errors import SpecError, UsageError
from runner.files import Files
from runner.records import record
from runner.spec import (
    COUNTS,
    Amount,
    Checks,
    Connection,
    CountExpectation,
    Email,
    Expect,
    ExpectedFinding,
    Groups,
    Notify,
    Project,
    Secret,
    SourceSpec,
    Spec,
    SpecTest,
    Tenant,
    frozen,
)
from runner.yamlfile import Document, JsonPath, display_path, json_path
from runner.yamlfile import load as load_yaml

PROJECT_FILE = "infiniti-sync.yaml"
_PROJECT_NAMES = (PROJECT_FILE, "infiniti-sync.yml")
DEFAULTS = {
    "specs": "specs",
    "state": ".infiniti-sync/state.db",
    "archive": ".infiniti-sync/runs",
    "keep_runs": 30,
}


def find(start: Path | None = None, explicit: Path | None = None) -> Path:
    """The project file: `explicit` (a file or folder), else the nearest one from `start` upwards."""
    if explicit is not None:
        if explicit.is_dir():
            for name in _PROJECT_NAMES:
                if (explicit / name).is_file():
                    return absolute(explicit / name)
            raise UsageError(f"no {PROJECT_FILE} in {explicit}")
        if not explicit.exists():
            raise UsageError(f"project file {explicit} does not exist")
        return absolute(explicit)
    here = absolute(start or Path.cwd())
    for folder in (here, *here.parents):
        for name in _PROJECT_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise UsageError(
        f"no {PROJECT_FILE} in {here} or any folder above it",
        hint="run in your specs repository, or pass --project PATH",
    )


def absolute(path: Path) -> Path:
    """An absolute path that keeps symbolic links as the user wrote them."""
    return Path(os.path.abspath(path))


def is_project_file(path: Path, doc: Document | None = None) -> bool:
    """Whether `path` is a project file rather than a spec (by name, or by a `tenants` key)."""
    if path.name in _PROJECT_NAMES:
        return True
    return doc is not None and isinstance(doc.data, dict) and "tenants" in doc.data


def specs_dir(project: Document) -> Path:
    """The specs folder a project file names (default: specs beside it)."""
    data = project.data if isinstance(project.data, dict) else {}
    folder = data.get("specs")
    return project.path.parent / (folder if isinstance(folder, str) else "specs")


def spec_files(folder: Path) -> list[Path]:
    """Spec files under `folder`, sorted; hidden folders are skipped."""
    if not folder.is_dir():
        return []
    found: list[Path] = []
    for top, folders, names in os.walk(folder):  # one listing a folder; linked folders are not entered
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(top, n) for n in names if _spec_name(n) and not n.startswith(".")]
    return sorted(found)


def _spec_name(name: str) -> bool:
    """Whether a file's name is a spec's: .yaml or .yml (in any case where the system ignores case)."""
    return os.path.normcase(name).endswith((".yaml", ".yml"))


def tenants_dir(project: Document) -> Path | None:
    """The folder of tenant files the project file names (`tenants: FOLDER`); None for a mapping."""
    data = project.data if isinstance(project.data, dict) else {}
    folder = data.get("tenants")
    return project.path.parent / folder if isinstance(folder, str) and folder else None


TENANT_SUFFIXES = (".yaml", ".yml")


def tenant_files(folder: Path) -> list[Path]:
    """The tenant files in `folder`, sorted: its YAML files (`.yaml`, `.yml`, in any case, so that a folder
    means the same on every system); hidden files, other files and subfolders are not tenants."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in TENANT_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def read(
    project_file: Path, extra_specs: Iterable[Path] = (), *, load: Callable[[Path], Document] = load_yaml
) -> Files:
    """Load the project file, its tenant files, every spec in its folder, and any `extra_specs` outside it
    (a path among the tenant files is one of them, not a spec)."""
    project = load(project_file)
    folder = tenants_dir(project)
    tenants = tenant_files(folder) if folder is not None else []
    inside = folder.resolve() if tenants and folder is not None else None  # a tenants folder among the specs
    paths = [p for p in spec_files(specs_dir(project)) if p.parent.resolve() != inside]
    extra_specs = list(extra_specs)
    known = {p.resolve() for p in (*tenants, *paths)} if extra_specs else set()
    for extra in extra_specs:
        if extra.resolve() not in known:
            known.add(extra.resolve())
            paths.append(absolute(extra))
    return Files(project=project, specs=[load(p) for p in paths], tenant_files=[load(p) for p in tenants])


def load(project_file: Path, *, strict: bool = False) -> Project:
    """The validated project at `project_file`; SpecError lists every problem if it is invalid."""
    files = read(project_file)
    if strict or not checked.passed(files):  # validated before, with no error: runner/checked.py
        from runner import validate  # the schemas and rules: only when there is something to check

        problems = validate.check(files)
        if any(p.severity == "error" or strict for p in problems):
            raise SpecError(problems)
        checked.remember(files)  # warnings too: loading never shows them, `validate` always checks
    return build(files)


# --- building records from validated data ------------------------------------------------------


def build(files: Files) -> Project:
    """The Project record of files that passed validation."""
    assert files.project is not None
    data: dict[str, Any] = {**DEFAULTS, **files.project.data}
    root = files.project.path.parent
    top = _In(root, files.project)
    specs = {files.spec_name(doc): build_spec(doc, files.spec_name(doc)) for doc in files.specs}
    tenants = {
        name: _tenant(name, raw, _In(root, *files.tenant_at(name))) for name, raw in files.tenants().items()
    }
    metrics: dict[str, Any] = data.get("metrics", {})
    return Project(
        path=files.project.path,
        specs_dir=root / data["specs"],
        state=_state(data["state"], top / "state"),
        archive=None if data["archive"] is False else root / data["archive"],
        keep_runs=int(data["keep_runs"]),
        tenants=frozen(tenants),
        specs=frozen(specs),
        timezone=data.get("timezone"),
        pushgateway=_url(metrics.get("pushgateway"), top / "metrics" / "pushgateway"),
        pushgateway_ca_bundle=root / metrics["ca_bundle"] if "ca_bundle" in metrics else None,
        notify=_notify(data["notify"], top / "notify") if "notify" in data else None,
    )


@record
class _In:
    """Where the value being built is written: the project's folder (paths are relative to it), the file,
    and the value's path in that file (for messages that name its line)."""

    root: Path
    doc: Document
    at: JsonPath = ()

    def __truediv__(self, key: str | int) -> _In:
        return _In(self.root, self.doc, (*self.at, key))

    def line(self) -> str:
        """`infiniti-sync.yaml:15`: the file and line of the value."""
        return f"{_file_name(self.doc.path, os.getcwd())}:{self.doc.mark(self.at).line}"


@functools.lru_cache(maxsize=64)
def _file_name(path: Path, cwd: str) -> str:
    """The file's name in messages (Document.name), worked out once per file and working folder: each
    tenant's password and specs name their line, and a project of a thousand tenants made it two thousand
    times (a path made relative to the working folder each time)."""
    return display_path(path)


def _secret(raw: Mapping[str, Any], place: _In) -> Secret:
    at = place.line()
    if "env" in raw:
        return Secret(env=raw["env"], at=at)
    if "keyring" in raw:  # SERVICE/USERNAME: the service may hold a /, the username does not
        service, _, username = raw["keyring"].rpartition("/")
        return Secret(keyring=(service, username), at=at)
    file = place.root / Path(raw["file"]).expanduser()  # ~: the home of the account that runs it
    return Secret(file=file, at=at)


def _url(raw: str | Mapping[str, Any] | None, place: _In) -> str | Secret | None:
    """A URL written in the file, or the secret that holds it."""
    return _secret(raw, place) if isinstance(raw, Mapping) else raw


def _state(raw: str | Mapping[str, Any], place: _In) -> str | Secret:
    if isinstance(raw, Mapping):
        return _secret(raw, place)
    return raw if stateurl.is_url(raw) else str(place.root / raw)


def _connection(name: str, raw: Mapping[str, Any], place: _In) -> Connection:
    return Connection(
        name=name,
        url=_url(raw.get("url"), place / "url"),
        files=place.root / raw["files"] if "files" in raw else None,
        **_given(encoding=raw.get("encoding"), delimiter=raw.get("delimiter")),
    )


def _tenant(name: str, raw: Mapping[str, Any], place: _In) -> Tenant:
    timeout = raw.get("timeout", {})
    retries = raw.get("retries", {})
    root = place.root
    connections = {
        c: _connection(c, v, place / "connections" / c) for c, v in raw.get("connections", {}).items()
    }
    url = _secret(raw["url"], place / "url") if isinstance(raw["url"], Mapping) else raw["url"]
    return Tenant(
        name=name,
        url=url.rstrip("/") if isinstance(url, str) else url,
        username=raw["username"],
        password=_secret(raw["password"], place / "password"),
        specs=tuple(item["name"] if isinstance(item, Mapping) else item for item in raw["specs"]),
        tenant_id=raw.get("tenant_id"),
        ca_bundle=root / raw["ca_bundle"] if "ca_bundle" in raw else None,
        connections=frozen(connections),
        vars=frozen(raw.get("vars", {})),
        schedule=raw.get("schedule"),
        spec_schedules=frozen(
            {i["name"]: i["schedule"] for i in raw["specs"] if isinstance(i, Mapping) and "schedule" in i}
        ),
        timezone=raw.get("timezone"),
        batch_size=raw.get("batch_size"),
        notify=_notify(raw["notify"], place / "notify") if "notify" in raw else None,
        specs_at=(place / "specs").line(),
        **_given(  # what the file leaves out keeps the record's default (runner/spec.py)
            connect_timeout=_number(timeout.get("connect")),
            read_timeout=_number(timeout.get("read")),
            retry_attempts=retries.get("attempts"),
            retry_max_time=_number(retries.get("max_time")),
        ),
    )


def _notify(raw: Mapping[str, Any], place: _In) -> Notify:
    email = raw.get("email")
    return Notify(
        webhook=_address(raw.get("webhook"), place / "webhook"),
        ping=_address(raw.get("ping"), place / "ping"),
        email=None if email is None else _email(email, place / "email"),
        ca_bundle=place.root / raw["ca_bundle"] if "ca_bundle" in raw else None,
        **_given(on=frozenset(raw["on"]) if "on" in raw else None),
    )


def _address(raw: Mapping[str, Any] | None, place: _In) -> str | Secret | None:
    """A webhook's or ping's url: as written, or its secret."""
    if raw is None:
        return None
    return _url(raw["url"], place / "url")


def _email(raw: Mapping[str, Any], place: _In) -> Email:
    tls = bool(raw.get("tls", False))
    return Email(
        host=raw["host"],
        port=raw.get("port", 465 if tls else 587),
        sender=raw["from"],
        to=tuple(raw["to"]),
        starttls=bool(raw.get("starttls", not tls)),
        tls=tls,
        username=raw.get("username"),
        password=_secret(raw["password"], place / "password") if "password" in raw else None,
    )


def _given(**values: Any) -> dict[str, Any]:
    """The values that were given (not None)."""
    return {name: value for name, value in values.items() if value is not None}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def build_spec(doc: Document, name: str) -> Spec:
    """The Spec record of a spec file that passed validation."""
    data: dict[str, Any] = doc.data
    source = data["source"]
    ids = source.get("id", ())
    groups = data.get("groups", {})
    chosen = data.get("import")
    if isinstance(chosen, Mapping):  # {name: userContacts, mode: ...}
        chosen, mode = chosen["name"], chosen.get("mode")
    else:
        mode = None
    return Spec(
        name=name,
        path=doc.path,
        description=data.get("description", ""),
        source=SourceSpec(
            connection=source["connection"],
            query=source["query"],
            params=frozen(source.get("params", {})),
            id_columns=(ids,) if isinstance(ids, str) else tuple(ids),
        ),
        lookups=frozen(data.get("lookups", {})),
        where=data.get("where"),
        columns=tuple((k, _column(v)) for k, v in data["columns"].items()),
        groups=Groups(
            library=frozenset(groups.get("library", ())), system=frozenset(groups.get("system", ()))
        ),
        checks=_checks(data.get("checks", {})),
        expect=_expect(data.get("expect", {})),
        tests=tuple(_test(doc, i, t) for i, t in enumerate(data.get("tests", []))),
        lines=frozen({json_path(path): mark.line for path, mark in doc.marks.items() if len(path) <= 3}),
        **_given(import_name=chosen, import_mode=mode, mode=data.get("mode")),
    )


def _column(value: str | bool) -> str:
    """A boolean constant column is Infiniti's TRUE/FALSE text."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return value


def _checks(raw: Mapping[str, Any]) -> Checks:
    return Checks(
        min_rows=raw.get("min_rows"),
        max_change=Amount.parse(raw["max_change"]) if "max_change" in raw else None,
        max_invalid=Amount.parse(raw.get("max_invalid", 0)),
        **_given(duplicates=raw.get("duplicates")),
    )


def _expect(raw: Mapping[str, Any]) -> Expect:
    allow = raw.get("failures", {}).get("allow")
    return Expect(
        success=raw.get("success"),
        counts=frozen({k: CountExpectation.parse(raw[k]) for k in COUNTS if k in raw}),
        allow=re.compile(allow) if allow else None,
    )


def _test(doc: Document, index: int, raw: Mapping[str, Any]) -> SpecTest:
    csv = raw.get("csv")
    findings = raw.get("findings")
    return SpecTest(
        name=raw["name"],
        rows=tuple(frozen(r) for r in raw["rows"]),
        line=doc.mark(("tests", index)).line,
        vars=frozen(raw.get("vars", {})),
        tenant=raw.get("tenant", "test"),
        csv=None if csv is None else tuple(frozen(r) for r in csv),
        findings=None
        if findings is None
        else tuple(ExpectedFinding(f["row"], f["check"], f.get("message")) for f in findings),
    )
