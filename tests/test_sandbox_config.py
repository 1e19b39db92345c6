"""The sandbox's config: the shipped demo tenant fits the example project; bad files name every problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import runner
from runner.errors import SpecError
from runner.sandbox import Fault, TenantConfig, User, demo_config, load_config, parse_config
from runner.sandbox.config import DEFAULT_MAX_BODY_BYTES

EXAMPLE = Path(runner.__file__).parent / "example"


def test_the_demo_tenant() -> None:
    config = demo_config()
    assert config.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 50 * 1024 * 1024
    assert list(config.tenants) == ["demo"]
    demo = config.tenants["demo"]
    assert demo.users == {
        "autosync": User("change-me", admin=True),
        "librarian": User("change-me-too", admin=False),
    }
    assert demo.library_groups == ("Year 7", "Year 8", "Year 9", "Year 10", "Year 11", "Year 12", "Staff")
    assert demo.system_groups == ("Students", "Staff")
    assert demo.faults == ()


def test_the_example_projects_specs_fit_the_demo_tenant() -> None:
    project = yaml.safe_load((EXAMPLE / "infiniti-sync.yaml").read_text(encoding="utf-8"))
    demo = demo_config().tenants[project["tenants"]["demo"]["tenant_id"]]
    assert project["tenants"]["demo"]["username"] in demo.users
    assert project["tenants"]["demo"]["ca_bundle"] == ".infiniti-sync/sandbox/ca.pem"
    for spec_file in sorted((EXAMPLE / "specs").glob("*.yaml")):
        groups = yaml.safe_load(spec_file.read_text(encoding="utf-8")).get("groups")
        if groups is None:  # a contacts spec: its lines name no group
            continue
        assert set(groups["library"]) <= set(demo.library_groups), spec_file.name
        assert set(groups["system"]) <= set(demo.system_groups), spec_file.name


def test_a_full_config(tmp_path: Path) -> None:
    (tmp_path / "sandbox.yaml").write_text(
        """
max_body_bytes: 1000
tenants:
  north:
    users:
      autosync: {password: "0123", admin: true}
      reader: {password: secret}
    library_groups: [Year 7]
    faults:
      - {count: 2, status: 503, retry_after: 1}
      - {delay: 0.5}
  south:
    users: {admin: {password: x, admin: true}}
""",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "sandbox.yaml")
    assert config.max_body_bytes == 1000
    assert config.tenants == {
        "north": TenantConfig(
            users={"autosync": User("0123", True), "reader": User("secret", False)},
            library_groups=("Year 7",),
            system_groups=(),
            faults=((Fault(status=503, retry_after=1), 2), (Fault(delay=0.5), 1)),
        ),
        "south": TenantConfig(users={"admin": User("x", True)}, library_groups=(), system_groups=()),
    }


@pytest.mark.parametrize(
    ("text", "messages"),
    [
        ("", ["<config>:1:1: $: expected a mapping with tenants:"]),
        ("tenants: {}\n", ["<config>:1:10: $.tenants: expected at least one tenant: tenants: {NAME: {...}}"]),
        (
            "tenants: {demo: [a]}\nmax_body_bytes: 0\ntennants: 1\n",
            [
                "<config>:1:17: $.tenants.demo: expected a mapping with users, library_groups, system_groups",
                "<config>:2:17: $.max_body_bytes: expected a whole number of bytes, at least 1",
                "<config>:3:1: $.tennants: unknown key 'tennants'; did you mean 'tenants'?",
            ],
        ),
        (
            "tenants:\n  demo:\n    users: {a: {password: x, admin: yes}, b: [x]}\n",
            [
                "<config>:3:37: $.tenants.demo.users.a.admin: expected true or false",
                "<config>:3:46: $.tenants.demo.users.b: expected {password: ..., admin: true|false}",
            ],
        ),
        (
            "tenants:\n  demo:\n    users: {a: {password: x}}\n    faults: {status: 503}\n",
            [
                "<config>:4:13: $.tenants.demo.faults: "
                "expected a list of faults, e.g. [{count: 1, status: 503}]"
            ],
        ),
        (
            "tenants:\n  demo:\n    users: {a: {password: x}}\n    faults:\n"
            "      - {count: 100000000, status: 503}\n      - {count: true, status: 99}\n",
            [
                "<config>:5:17: $.tenants.demo.faults[0].count: "
                "invalid fault: count must be a whole number from 1 to 1000",
                "<config>:6:17: $.tenants.demo.faults[1].count: "
                "invalid fault: count must be a whole number from 1 to 1000",
            ],
        ),
        (
            "tenants:\n  demo:\n    users: {a: {password: x}}\n    contacts:\n      s1:\n"
            "        - {type: fax, role: guardian, contact: x, colour: red}\n"
            "        - {type: email, role: guardian, contact: x@}\n        - {type: phone, role: guardian}\n"
            "      s2: {type: email}\n",
            [
                "<config>:6:18: $.tenants.demo.contacts.s1[0].type: type 'fax' is not email or phone",
                "<config>:6:51: $.tenants.demo.contacts.s1[0].colour: unknown key 'colour'; known: "
                "type, role, primary, addressee, contact, sms, scenarios",
                "<config>:7:50: $.tenants.demo.contacts.s1[1].contact: contact 'x@' is not a well-formed "
                "email address",
                "<config>:8:11: $.tenants.demo.contacts.s1[2]: contact is missing",
                "<config>:9:11: $.tenants.demo.contacts.s2: expected a list of contacts",
            ],
        ),
    ],
)
def test_bad_configs(text: str, messages: list[str]) -> None:
    with pytest.raises(SpecError) as raised:
        parse_config(text)
    assert [str(p) for p in raised.value.problems] == messages
