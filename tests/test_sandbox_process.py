"""`infiniti-sync sandbox` as a separate process: the contract's cURL command, a standard-library client
over verified TLS, persistence and CA reuse under --data, signals, and a bad config."""

from __future__ import annotations

import io
import json
import signal
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from runner.cli import main
from runner.console import Console
from runner.sandbox import Fault
from tests.support.sandbox import SandboxProcess, basic, multipart, start_sandbox_process
from tests.support.windows import posix_only

CSV = (
    "username,library-group,system-group,emailAddress\n"
    "s001,Year 7,Students,s001@example.edu\n"
    "t001,Staff,Staff,\n"
)
TWO_CREATED = {
    "success": True,
    "summary": "2 users processed. 2 users created. 0 users updated. 0 users failed.",
}
USERS = [
    {
        "username": "s001",
        "library-group": "Year 7",
        "system-group": "Students",
        "emailAddress": "s001@example.edu",
    },
    {"username": "t001", "library-group": "Staff", "system-group": "Staff"},
]


def _contract_command(url: str) -> list[str]:
    """The contract's example, with the sandbox's host and port filled in and nothing else changed."""
    host_port = url.removeprefix("https://")
    target = f"https://autosync:change-me@{host_port}/api/import/userGroups?tenantId=demo"
    return ["curl", "-k", "-X", "POST", "-F", "file=@user-groups.csv", target]


def test_the_contracts_curl_command(sandbox_process: SandboxProcess, tmp_path: Path) -> None:
    (tmp_path / "user-groups.csv").write_text(CSV, encoding="utf-8", newline="")
    done = subprocess.run(
        _contract_command(sandbox_process.url),
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )
    assert (done.returncode, json.loads(done.stdout)) == (0, TWO_CREATED)
    assert sandbox_process.users() == USERS


def test_the_banner_gives_the_contracts_curl_command(sandbox_process: SandboxProcess) -> None:
    port = sandbox_process.url.rsplit(":", 1)[1]
    assert sandbox_process.banner[0] == f"listening on https://127.0.0.1:{port}"
    command = (
        '  import (the contract\'s command): curl -k -X POST -F "file=@user-groups.csv" '
        f'"https://autosync:change-me@127.0.0.1:{port}/api/import/userGroups?tenantId=demo"'
    )
    assert command in sandbox_process.banner
    assert f"TLS: trust the CA in {sandbox_process.ca_file} (curl --cacert, or ca_bundle: in a project)" in (
        sandbox_process.banner
    )
    assert "  users: autosync / change-me (admin), librarian / change-me-too (no admin: refused)" in (
        sandbox_process.banner
    )


def test_curl_verifying_tls_with_the_sandboxs_ca(sandbox_process: SandboxProcess, tmp_path: Path) -> None:
    (tmp_path / "user-groups.csv").write_text(CSV, encoding="utf-8", newline="")
    command = _contract_command(sandbox_process.url)
    command[1:2] = ["--cacert", str(sandbox_process.ca_file)]
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, encoding="utf-8", timeout=30, check=True
    )
    assert json.loads(done.stdout) == TWO_CREATED


def test_a_standard_library_client_with_verification_on(sandbox_process: SandboxProcess) -> None:
    body, content_type = multipart(CSV.encode())
    request = urllib.request.Request(
        f"{sandbox_process.url}/api/import/userGroups?tenantId=demo",
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Authorization": basic("autosync", "change-me")},
    )
    context = ssl.create_default_context(cafile=str(sandbox_process.ca_file))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        assert (response.status, json.load(response)) == (200, TWO_CREATED)
    localhost = sandbox_process.url.replace("127.0.0.1", "localhost")
    users = urllib.request.Request(
        f"{localhost}/api/sandbox/users?tenantId=demo",
        headers={"Authorization": basic("autosync", "change-me")},
    )
    with urllib.request.urlopen(users, context=context, timeout=30) as response:
        assert json.load(response) == USERS


def test_a_client_that_does_not_trust_the_ca_is_refused(sandbox_process: SandboxProcess) -> None:
    context = ssl.create_default_context()  # the system's CAs only
    with pytest.raises(urllib.error.URLError) as raised:
        urllib.request.urlopen(f"{sandbox_process.url}/api/sandbox/users", context=context, timeout=30)
    assert isinstance(raised.value.reason, ssl.SSLCertVerificationError)


def test_a_non_admin_gets_401_from_urllib(sandbox_process: SandboxProcess) -> None:
    body, content_type = multipart(CSV.encode())
    request = urllib.request.Request(
        f"{sandbox_process.url}/api/import/userGroups?tenantId=demo",
        data=body,
        headers={"Content-Type": content_type, "Authorization": basic("librarian", "change-me-too")},
    )
    context = ssl.create_default_context(cafile=str(sandbox_process.ca_file))
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, context=context, timeout=30)
    assert (raised.value.code, json.load(raised.value)) == (
        401,
        {"success": False, "summary": "Unauthorised. Check credentials."},
    )


def test_faults_over_http_against_the_process(sandbox_process: SandboxProcess) -> None:
    sandbox_process.inject("demo", Fault(status=503, retry_after=2), count=2)
    reply = sandbox_process.client.post_csv(CSV)
    assert (reply.status, reply.headers["retry-after"]) == (503, "2")
    sandbox_process.clear_faults("demo")
    assert sandbox_process.client.post_csv(CSV).json() == TWO_CREATED


def test_users_and_ca_survive_a_restart_under_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_sandbox_process(data)
    try:
        assert first.client.post_csv(CSV).json() == TWO_CREATED
    finally:
        assert first.stop() == 0
    files = {name: (data / name).read_bytes() for name in ("ca.pem", "ca-key.pem", "cert.pem", "key.pem")}
    assert (data / "sandbox.db").is_file()

    second = start_sandbox_process(data)
    try:
        assert second.users() == USERS  # verified with the CA file written by the first run
        updated = second.client.post_csv(CSV).json()
        assert updated["summary"] == "2 users processed. 0 users created. 2 users updated. 0 users failed."
    finally:
        assert second.stop() == 0
    assert {name: (data / name).read_bytes() for name in files} == files


def test_without_data_users_live_in_memory_and_tls_goes_to_the_working_folder(tmp_path: Path) -> None:
    sandbox = start_sandbox_process(None, cwd=tmp_path)
    try:
        assert sandbox.ca_file == tmp_path / ".infiniti-sync" / "sandbox" / "ca.pem"
        assert sandbox.client.post_csv(CSV).json() == TWO_CREATED
        assert "users: kept in memory (gone when the sandbox stops; --data DIR keeps them)" in sandbox.banner
    finally:
        assert sandbox.stop() == 0
    assert sorted(p.name for p in (tmp_path / ".infiniti-sync" / "sandbox").iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "cert.pem",
        "key.pem",
    ]
    again = start_sandbox_process(None, cwd=tmp_path)
    try:
        assert again.users() == []
    finally:
        again.stop()


def test_plain_http_with_no_tls(tmp_path: Path) -> None:
    sandbox = start_sandbox_process(tmp_path / "data", "--no-tls")
    try:
        assert sandbox.url.startswith("http://127.0.0.1:")
        assert sandbox.ca_file is None
        assert sandbox.client.post_csv(CSV).json() == TWO_CREATED
        assert not (tmp_path / "data" / "ca.pem").exists()
    finally:
        sandbox.stop()


@posix_only("Windows sends Ctrl-C only to a whole console, not to one process group")
def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    sandbox = start_sandbox_process(tmp_path / "data")
    assert sandbox.stop(signal.SIGINT) == 130


def test_a_port_in_use_is_a_usage_error(sandbox_process: SandboxProcess) -> None:
    port = sandbox_process.url.rsplit(":", 1)[1]
    with socket.socket() as probe, pytest.raises(OSError) as in_use:  # in the system's words
        probe.bind(("127.0.0.1", int(port)))
    done = subprocess.run(
        [sys.executable, "-m", "runner", "sandbox", "--no-tls", "--port", port],
        capture_output=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: {in_use.value.strerror}\n"
        "  hint: choose another --port (0 picks a free one)\n"
    )


BAD_CONFIGS = {
    "unknown key and bad password": (
        "tenants:\n  demo:\n    users:\n      autosync: {password: 1234, admn: true}\n"
        "    library_groups: [Year 7]\n    system_groups: [Students]\n",
        [
            "bad.yaml:4:28: $.tenants.demo.users.autosync.password: "
            "expected a password (text; quote it if it looks like a number)",
            "bad.yaml:4:34: $.tenants.demo.users.autosync.admn: unknown key 'admn'; did you mean 'admin'?",
            "2 problems; fix them and run again",
        ],
    ),
    "groups, users and faults": (
        "tenants:\n  demo:\n    users: {}\n    library_groups: Year 7\n"
        "    system_groups: [Students, Students, 7]\n    faults: [{status: 503, drop: true}]\n",
        [
            "bad.yaml:3:12: $.tenants.demo.users: "
            "expected at least one user: {NAME: {password: ..., admin: true}}",
            "bad.yaml:4:21: $.tenants.demo.library_groups: "
            "expected a list of group names, e.g. [Year 7, Staff]",
            "bad.yaml:5:31: $.tenants.demo.system_groups[1]: 'Students' is listed twice",
            "bad.yaml:5:41: $.tenants.demo.system_groups[2]: expected a group name (text)",
            "bad.yaml:6:14: $.tenants.demo.faults[0]: "
            "invalid fault: drop closes the connection without an answer: it takes no status or body",
            "5 problems; fix them and run again",
        ],
    ),
    "a fault count over the maximum": (
        "tenants:\n  demo:\n    users: {autosync: {password: x, admin: true}}\n"
        "    faults: [{count: 100000000, status: 503}]\n    library_groups: Year 7\n",
        [
            "bad.yaml:4:22: $.tenants.demo.faults[0].count: "
            "invalid fault: count must be a whole number from 1 to 1000",
            "bad.yaml:5:21: $.tenants.demo.library_groups: "
            "expected a list of group names, e.g. [Year 7, Staff]",
            "2 problems; fix them and run again",
        ],
    ),
    "no tenants": (
        "max_body_bytes: lots\n",
        [
            "bad.yaml:1:1: $.tenants: expected at least one tenant: tenants: {NAME: {...}}",
            "bad.yaml:1:17: $.max_body_bytes: expected a whole number of bytes, at least 1",
            "2 problems; fix them and run again",
        ],
    ),
    "yaml syntax": (
        "tenants: [\n",
        [
            "bad.yaml:2:1: $: YAML syntax: expected the node content, but found '<stream end>' "
            "(while parsing a flow node)",
            "1 problem; fix them and run again",
        ],
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_a_bad_config_is_reported_with_exit_2(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, messages = BAD_CONFIGS[case]
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert main(["sandbox", "--config", "bad.yaml", "--port", "0"], Console(out=out, err=err)) == 2
    assert (out.getvalue(), err.getvalue().splitlines()) == ("", messages)
    assert not (tmp_path / ".infiniti-sync").exists()


def test_a_missing_config_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runner", "sandbox", "--config", "missing.yaml"],
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        2,
        "missing.yaml:1:1: $: cannot read: No such file or directory\n1 problem; fix them and run again\n",
    )
