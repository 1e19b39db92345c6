"""The sandbox's import rules, one folder per case (see tests/sandbox_cases/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.sandbox import IMPORT, Client

CASES = Path(__file__).parent / "sandbox_cases"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_import_case(case: str, sandbox_client: Client) -> None:
    folder = CASES / case
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    path = (
        (folder / "path.txt").read_text(encoding="utf-8").strip()
        if (folder / "path.txt").exists()
        else IMPORT
    )
    for before, at in (("before.csv", IMPORT), ("before-request.csv", path)):
        if (folder / before).exists():
            reply = sandbox_client.post_csv((folder / before).read_bytes(), path=at)
            assert (reply.status, reply.json()["success"]) == (200, True), reply.body
    reply = sandbox_client.post_csv((folder / "request.csv").read_bytes(), path=path)
    assert (reply.status, reply.json()) == (expected["status"], expected["body"])
    assert reply.headers["content-type"] == "application/json;charset=UTF-8"
    if "users" in expected:
        assert sandbox_client.users("demo") == expected["users"]
    if "contacts" in expected:
        assert sandbox_client.contacts("demo") == expected["contacts"]
