"""The sandbox's configuration: tenants with their users and groups, the body size limit, initial faults.

```yaml
max_body_bytes: 52428800          # optional; larger requests get HTTP 413
tenants:
  demo:
    users:
      autosync: {password: change-me, admin: true}     # system administration privileges
      librarian: {password: change-me-too, admin: false}
    library_groups: [Year 7, Year 8, Staff]
    system_groups: [Students, Staff]
    contacts:                       # optional: contacts library staff added by hand (kept by imports)
      s1001:
        - {type: phone, role: guardian, contact: "(M1) 021 555 0101", addressee: Mere Ngata}
    faults:                         # optional: the first import requests misbehave
      - {count: 1, status: 503, retry_after: 1}
```

A file that does not fit raises SpecError with every problem, each at its line and column.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field
from importlib import resources
from pathlib import Path
from typing import Any

from runner import contract
from runner.errors import Problem, SpecError, UsageError
from runner.records import record
from runner.sandbox.faults import Fault, parse_count, parse_fault
from runner.suggest import did_you_mean
from runner.yamlfile import Document, JsonPath, loads
from runner.yamlfile import load as load_yaml

DEFAULT_MAX_BODY_BYTES = 50 * 1024 * 1024
_TOP_KEYS = ("tenants", "max_body_bytes")
_TENANT_KEYS = ("users", "library_groups", "system_groups", "contacts", "faults")
_CONTACT_KEYS = tuple(c for c in contract.CONTACT_COLUMNS if c != "username")
_USER_KEYS = ("password", "admin")


@record
class User:
    """An Infiniti account that may call the import: its password and whether it has admin privileges."""

    password: str
    admin: bool = False


@record
class TenantConfig:
    """One school: its accounts, and the library and system groups defined in it."""

    users: Mapping[str, User]
    library_groups: tuple[str, ...]
    system_groups: tuple[str, ...]
    faults: tuple[tuple[Fault, int], ...] = ()
    contacts: Mapping[str, tuple[Mapping[str, str], ...]] = field(default_factory=dict)  # added by hand


@record
class Config:
    """Everything the sandbox serves."""

    tenants: Mapping[str, TenantConfig]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def load_config(path: Path) -> Config:
    """Read a sandbox config file; SpecError lists every problem in it."""
    return _build(load_yaml(path))


def parse_config(text: str, name: str = "<config>") -> Config:
    """Read a sandbox config from YAML `text` (`name` is used in messages)."""
    return _build(loads(text, Path(name)))


def demo_config() -> Config:
    """The demo tenant that the example project's specs fit (`runner/sandbox/demo.yaml`)."""
    text = resources.files("runner.sandbox").joinpath("demo.yaml").read_text(encoding="utf-8")
    return parse_config(text, "demo.yaml")


def _build(doc: Document) -> Config:
    problems = list(doc.problems)
    if not problems:
        problems = list(_check(doc))
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.line, p.col)))
    return _config(doc.data)


def _config(data: dict[str, Any]) -> Config:
    tenants = {str(name): _tenant(body) for name, body in data["tenants"].items()}
    return Config(tenants=tenants, max_body_bytes=data.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES))


def _tenant(body: dict[str, Any]) -> TenantConfig:
    users = {str(name): User(u["password"], bool(u.get("admin", False))) for name, u in body["users"].items()}
    return TenantConfig(
        users=users,
        library_groups=tuple(body.get("library_groups") or ()),
        system_groups=tuple(body.get("system_groups") or ()),
        faults=tuple(parse_fault(item) for item in body.get("faults") or ()),
        contacts={
            str(name): tuple(_contact(item) for item in items)
            for name, items in (body.get("contacts") or {}).items()
        },
    )


def _contact(item: Mapping[str, Any]) -> dict[str, str]:
    """A hand-added contact as the store keeps one: text fields (booleans as TRUE/FALSE), in column order."""
    text = {k: ("TRUE" if v else "FALSE") if isinstance(v, bool) else str(v) for k, v in item.items()}
    return {k: text[k] for k in _CONTACT_KEYS if k in text}


def _check(doc: Document) -> Iterator[Problem]:
    """Every problem of the loaded config, located in the file."""
    data = doc.data
    if not isinstance(data, dict):
        yield doc.problem((), "expected a mapping with tenants:", rule="sandbox")
        return
    yield from _keys(doc, (), data, _TOP_KEYS)
    limit = data.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        yield doc.problem(("max_body_bytes",), "expected a whole number of bytes, at least 1", rule="sandbox")
    tenants = data.get("tenants")
    if not isinstance(tenants, dict) or not tenants:
        yield doc.problem(
            ("tenants",), "expected at least one tenant: tenants: {NAME: {...}}", rule="sandbox"
        )
        return
    for name, body in tenants.items():
        yield from _check_tenant(doc, ("tenants", name), body)


def _check_tenant(doc: Document, path: JsonPath, body: object) -> Iterator[Problem]:
    if not str(path[-1]).strip():
        yield doc.problem(path, "a tenant id must not be blank", rule="sandbox", key=True)
    if not isinstance(body, dict):
        yield doc.problem(
            path, "expected a mapping with users, library_groups, system_groups", rule="sandbox"
        )
        return
    yield from _keys(doc, path, body, _TENANT_KEYS)
    users = body.get("users")
    if not isinstance(users, dict) or not users:
        yield doc.problem(
            (*path, "users"),
            "expected at least one user: {NAME: {password: ..., admin: true}}",
            rule="sandbox",
        )
    else:
        for name, user in users.items():
            yield from _check_user(doc, (*path, "users", name), user)
    for key in ("library_groups", "system_groups"):
        yield from _check_groups(doc, (*path, key), body.get(key))
    yield from _check_faults(doc, (*path, "faults"), body.get("faults"))
    yield from _check_contacts(doc, (*path, "contacts"), body.get("contacts"))


def _check_contacts(doc: Document, path: JsonPath, contacts: object) -> Iterator[Problem]:
    """Hand-added contacts: username -> a list of contacts, each following the import's own rules."""
    if contacts is None:
        return
    if not isinstance(contacts, dict):
        yield doc.problem(
            path, "expected USERNAME: [{type: email, role: guardian, contact: ...}]", rule="sandbox"
        )
        return
    for name, items in contacts.items():
        if not isinstance(items, list):
            yield doc.problem((*path, name), "expected a list of contacts", rule="sandbox")
            continue
        for i, item in enumerate(items):
            yield from _check_contact(doc, (*path, name, i), str(name), item)


def _check_contact(doc: Document, path: JsonPath, username: str, item: object) -> Iterator[Problem]:
    if not isinstance(item, dict):
        yield doc.problem(path, "expected {type: ..., role: ..., contact: ...}", rule="sandbox")
        return
    yield from _keys(doc, path, item, _CONTACT_KEYS)
    for key, value in item.items():
        if not isinstance(value, str | bool):
            yield doc.problem((*path, key), "expected text (or true/false)", rule="sandbox")
    if any(not isinstance(v, str | bool) for v in item.values()):
        return
    for problem in contract.contact_problems({**_contact(item), "username": username}):
        said = "is missing" if problem.check == "required" else f"{problem.value!r} is not {problem.expected}"
        at = (*path, problem.field) if problem.field in item else path
        yield doc.problem(at, f"{problem.field} {said}", rule="sandbox")


def _check_user(doc: Document, path: JsonPath, user: object) -> Iterator[Problem]:
    if not isinstance(user, dict):
        yield doc.problem(path, "expected {password: ..., admin: true|false}", rule="sandbox")
        return
    yield from _keys(doc, path, user, _USER_KEYS)
    if not isinstance(user.get("password"), str) or not user["password"]:
        yield doc.problem(
            (*path, "password"),
            "expected a password (text; quote it if it looks like a number)",
            rule="sandbox",
        )
    if not isinstance(user.get("admin", False), bool):
        yield doc.problem((*path, "admin"), "expected true or false", rule="sandbox")


def _check_groups(doc: Document, path: JsonPath, groups: object) -> Iterator[Problem]:
    if groups is None:
        return
    if not isinstance(groups, list):
        yield doc.problem(path, "expected a list of group names, e.g. [Year 7, Staff]", rule="sandbox")
        return
    seen: set[str] = set()
    for i, group in enumerate(groups):
        if not isinstance(group, str) or not group.strip():
            yield doc.problem((*path, i), "expected a group name (text)", rule="sandbox")
        elif group in seen:
            yield doc.problem((*path, i), f"{group!r} is listed twice", rule="sandbox")
        seen.add(str(group))


def _check_faults(doc: Document, path: JsonPath, faults: object) -> Iterator[Problem]:
    if faults is None:
        return
    if not isinstance(faults, list):
        yield doc.problem(path, "expected a list of faults, e.g. [{count: 1, status: 503}]", rule="sandbox")
        return
    for i, item in enumerate(faults):
        problem = _count_problem(item)
        if problem is not None:
            yield doc.problem((*path, i, "count"), problem, rule="sandbox")
            continue
        try:
            parse_fault(item)
        except UsageError as err:
            yield doc.problem((*path, i), err.message, rule="sandbox")


def _count_problem(item: object) -> str | None:
    """What is wrong with a fault's count, or None: checked first, to be reported at the count itself."""
    count = item.get("count") if isinstance(item, dict) else None
    try:
        if count is not None:
            parse_count(count)
    except UsageError as err:
        return err.message
    return None


def _keys(doc: Document, path: JsonPath, data: dict[str, Any], known: tuple[str, ...]) -> Iterator[Problem]:
    for key in data:
        if key not in known:
            guess = did_you_mean(key, known)
            hint = f"did you mean {guess!r}?" if guess else f"known: {', '.join(known)}"
            yield doc.problem((*path, key), f"unknown key {key!r}; {hint}", rule="sandbox", key=True)
