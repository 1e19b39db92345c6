"""Secrets from the operating system's keyring: `{keyring: SERVICE/USERNAME}`, stored once with `keyring set`.

The keyring here is real (the `keyring` library, its command line and its backend selection) with a backend
that keeps its entries in a file of the test's own (tests/support/keyrings.py) instead of the user's
keychain; the failing backend is keyring's own `keyring.backends.fail.Keyring`, what a server without any
keyring gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from runner import project, secrets
from runner.errors import UsageError
from runner.spec import Secret
from tests.support import keyrings
from tests.support.project import Site, copy_project

ROOT = Path(__file__).resolve().parents[1]
SERVICE, USER = "infiniti-sync/demo", "autosync"  # the service may hold a /, the username not
PASSWORD = "change-me"  # the sandbox's demo tenant
WHAT = "tenant demo: password"
# `python -m runner` with the keyring library hidden, as on an install without the extra
WITHOUT_KEYRING = "import sys; sys.modules['keyring'] = None; from runner.cli import main; sys.exit(main())"


@pytest.fixture(name="store")
def store_fixture(tmp_path: Path) -> Iterator[keyrings.FileKeyring]:
    """The file keyring as this process's keyring, the one before put back afterwards."""
    before = keyring.get_keyring()
    backend = keyrings.FileKeyring(tmp_path / "keyring.json")
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


def test_a_stored_password_is_read_and_remembered_as_secret(store: keyrings.FileKeyring) -> None:
    store.set_password(SERVICE, USER, "Tūī-s3cret")
    value = secrets.resolve(Secret(keyring=(SERVICE, USER)), {}, what=WHAT)
    assert value == "Tūī-s3cret"
    assert secrets.redact("refused Tūī-s3cret, T%C5%AB%C4%AB-s3cret") == "refused ***, ***"


def test_a_database_url_from_the_keyring_is_left_for_its_owner_to_mask(store: keyrings.FileKeyring) -> None:
    store.set_password("North SMS", "reader", "postgresql://reader:pw-of-sms@db/sms")
    url = secrets.resolve(Secret(keyring=("North SMS", "reader")), {}, what="connection sms: url", mask=False)
    assert (url, secrets.known_values()) == ("postgresql://reader:pw-of-sms@db/sms", set())


def test_a_missing_entry_names_the_service_and_user_and_how_to_store_it(store: keyrings.FileKeyring) -> None:
    with pytest.raises(UsageError) as caught:
        secrets.resolve(Secret(keyring=("North SMS", "reader")), {}, what="connection sms: url")
    assert (caught.value.exit_code, caught.value.message, caught.value.hint) == (
        2,
        "connection sms: url: the keyring holds no password for service 'North SMS', user 'reader'",
        'store it once, as the account that runs the sync: keyring set "North SMS" reader',
    )


def test_an_empty_entry_is_missing(store: keyrings.FileKeyring) -> None:
    store.set_password(SERVICE, USER, "")
    with pytest.raises(
        UsageError, match="holds no password for service 'infiniti-sync/demo', user 'autosync'"
    ):
        secrets.resolve(Secret(keyring=(SERVICE, USER)), {}, what=WHAT)


def test_the_form_is_read_at_the_last_slash(tmp_path: Path) -> None:
    project_file = copy_project(tmp_path / "project")
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(
        text.replace("{env: INFINITI_DEMO_PASSWORD}", "{keyring: infiniti-sync/demo/autosync}"),
        encoding="utf-8",
    )
    tenant = project.load(project_file).tenants["demo"]
    assert (tenant.password, str(tenant.password)) == (
        Secret(keyring=(SERVICE, USER)),
        "{keyring: infiniti-sync/demo/autosync}",
    )


# --- through the command line, in child processes ---------------------------------------------


@pytest.fixture(name="site")
def keyring_site_fixture(tmp_path: Path) -> Iterator[Site]:
    """The example project and its sandbox, the tenant's password read from the keyring."""
    running = Site.start(tmp_path / "project")
    text = running.project_file.read_text(encoding="utf-8")
    keyed = text.replace("{env: INFINITI_DEMO_PASSWORD}", f"{{keyring: {SERVICE}/{USER}}}")
    assert keyed != text
    running.project_file.write_text(keyed, encoding="utf-8")
    try:
        yield running
    finally:
        running.stop()


def child_env(tmp_path: Path, backend: str = keyrings.BACKEND) -> dict[str, str]:
    """The environment of a child process using keyring `backend` (the file keyring of `tmp_path`)."""
    env = {k: v for k, v in os.environ.items() if k != "INFINITI_DEMO_PASSWORD"}
    pythonpath = os.pathsep.join(p for p in (os.fspath(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {
        **env,
        "PYTHONPATH": pythonpath,
        "PYTHON_KEYRING_BACKEND": backend,
        keyrings.VARIABLE: os.fspath(tmp_path / "keyring.json"),
    }


def child(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        input=stdin,
        capture_output=True,
        encoding="utf-8",
        check=False,
        timeout=120,
    )


def _at(site: Site) -> str:
    """Where the project file writes the password (its messages name the file and line)."""
    path = site.root / "infiniti-sync.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    return f"{path}:{next(n for n, line in enumerate(lines, 1) if 'password:' in line)}"


def test_keyring_set_once_then_run_sends(site: Site, tmp_path: Path) -> None:
    env = child_env(tmp_path)
    stored = child(["-m", "keyring", "set", SERVICE, USER], env, stdin=PASSWORD + "\n")
    assert (stored.returncode, stored.stderr) == (0, "")
    done = child(["-m", "runner", "run", "--tenant", "demo", "--project", os.fspath(site.root)], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo/students: ok" in done.stdout
    assert len(site.sandbox.users("demo")) > 0


def test_a_missing_entry_is_exit_2_through_the_command_line(site: Site, tmp_path: Path) -> None:
    done = child(
        ["-m", "runner", "run", "--tenant", "demo", "--project", os.fspath(site.root)], child_env(tmp_path)
    )
    message = (
        f"error: tenant demo: password ({_at(site)}): the keyring holds no password for service "
        "'infiniti-sync/demo', user 'autosync'\n"
        "  hint: store it once, as the account that runs the sync: keyring set infiniti-sync/demo autosync\n"
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        f"demo/students: {message}demo/staff: error: the same as demo/students\n"
        f"demo/guardians: error: the same as demo/students\n",
        "",
    )
    assert site.imports() == []


def test_without_the_keyring_library_the_message_names_the_extra(site: Site, tmp_path: Path) -> None:
    args = [
        "-c",
        WITHOUT_KEYRING,
        "run",
        "--tenant",
        "demo",
        "--spec",
        "staff",
        "--project",
        os.fspath(site.root),
    ]
    done = child(args, child_env(tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        f"demo/staff: error: tenant demo: password ({_at(site)}): {{keyring: infiniti-sync/demo/autosync}} "
        "needs the keyring library, which is not installed\n"
        "  hint: install it with: pip install 'infiniti-sync[keyring]'\n",
        "",
    )


def test_a_machine_without_a_usable_keyring_is_exit_2(site: Site, tmp_path: Path) -> None:
    args = ["-m", "runner", "run", "--tenant", "demo", "--spec", "staff", "--project", os.fspath(site.root)]
    done = child(args, child_env(tmp_path, backend="keyring.backends.fail.Keyring"))
    assert done.returncode == 2
    assert done.stdout.startswith(
        f"demo/staff: error: tenant demo: password ({_at(site)}): "
        "the keyring cannot be read (NoKeyringError: "
    )
    assert done.stdout.endswith(
        "  hint: unlock or set up the keyring of the account that runs the sync, "
        "or use {env: NAME} or {file: PATH}\n"
    )


def test_validate_reads_no_keyring(site: Site, tmp_path: Path) -> None:
    """`validate` checks the form only: no keyring library, no entry needed."""
    args = ["-c", WITHOUT_KEYRING, "validate", "--project", os.fspath(site.root)]
    done = child(args, child_env(tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (0, "4 files valid\n", "")
