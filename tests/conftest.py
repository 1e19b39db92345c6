"""Fixtures shared by the tests: a sandbox in this process, and one as a separate process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import checked, secrets
from runner.sandbox import Sandbox, demo_config
from tests.support.sandbox import Client, SandboxProcess, start_sandbox_process


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterator[None]:
    """Each test starts with no remembered secrets, as each run of the command line does."""
    secrets.forget_all()
    yield
    secrets.forget_all()


@pytest.fixture(autouse=True, scope="session")
def _own_validation_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Projects that passed validation are noted in a folder of this test run's (runner/checked.py), never
    in the user's cache; child processes inherit the setting."""
    before = os.environ.get(checked.VARIABLE)
    os.environ[checked.VARIABLE] = os.fspath(tmp_path_factory.mktemp("validation-cache"))
    yield
    if before is None:
        del os.environ[checked.VARIABLE]
    else:
        os.environ[checked.VARIABLE] = before


@pytest.fixture(scope="session")
def sandbox_tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One TLS folder (CA and certificate) for the in-process sandboxes of the whole run."""
    return tmp_path_factory.mktemp("sandbox-tls")


@pytest.fixture
def sandbox(sandbox_tls_dir: Path) -> Iterator[Sandbox]:
    """A fresh in-process sandbox with the demo tenant, over TLS, on a free port; no users yet."""
    with Sandbox(demo_config(), port=0, tls_dir=sandbox_tls_dir) as running:
        yield running


@pytest.fixture
def sandbox_client(sandbox: Sandbox) -> Client:
    """A standard-library client of `sandbox` that verifies its certificate with the sandbox's CA."""
    return Client(sandbox.url, sandbox.ca_file)


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[SandboxProcess]:
    """`python -m runner sandbox --port 0 --data TMP` (the demo tenant) as a child process, stopped after."""
    with (tmp_path / "sandbox.log").open("w", encoding="utf-8") as log:
        running = start_sandbox_process(tmp_path / "sandbox-data", log=log)
        try:
            yield running
        finally:
            running.stop()
