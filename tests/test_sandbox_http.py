"""The sandbox over HTTPS, in this process: credentials, tenants, routes, bodies, limits, inspection."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.sandbox import Sandbox, parse_config
from tests.support.sandbox import ADMIN, IMPORT, Client, basic, multipart

HEADER = "username,library-group,system-group\n"
ONE_CREATED = {
    "success": True,
    "summary": "1 user processed. 1 user created. 0 users updated. 0 users failed.",
}
UNAUTHORISED = {"success": False, "summary": "Unauthorised. Check credentials."}
TWO_TENANTS = """
tenants:
  north:
    users: {autosync: {password: n-secret, admin: true}}
    library_groups: [Year 7]
    system_groups: [Students]
  south:
    users: {autosync: {password: s-secret, admin: true}}
    library_groups: [Year 7]
    system_groups: [Students]
"""
SMALL_LIMIT = """
max_body_bytes: 1000
tenants:
  demo:
    users: {autosync: {password: change-me, admin: true}}
    library_groups: [Year 7]
    system_groups: [Students]
"""


@pytest.fixture
def two_tenants(sandbox_tls_dir: Path) -> Iterator[Client]:
    with Sandbox(parse_config(TWO_TENANTS), tls_dir=sandbox_tls_dir) as sb:
        yield Client(sb.url, sb.ca_file)


@pytest.fixture
def small_limit(sandbox_tls_dir: Path) -> Iterator[Client]:
    with Sandbox(parse_config(SMALL_LIMIT), tls_dir=sandbox_tls_dir) as sb:
        yield Client(sb.url, sb.ca_file)


# Credentials


@pytest.mark.parametrize(
    "auth",
    [("autosync", "wrong"), ("nobody", "change-me"), ("librarian", "change-me-too"), ("autosync", "")],
    ids=["wrong password", "unknown user", "user without admin privileges", "empty password"],
)
def test_refused_credentials_get_401(auth: tuple[str, str], sandbox_client: Client) -> None:
    reply = sandbox_client.post_csv(HEADER + "s001,Year 7,Students\n", auth=auth)
    assert (reply.status, reply.json()) == (401, UNAUTHORISED)
    assert reply.headers["www-authenticate"] == 'Basic realm="Infiniti", charset="UTF-8"'
    assert sandbox_client.users() == []


def test_missing_credentials_get_401(sandbox_client: Client) -> None:
    reply = sandbox_client.post_csv(HEADER, auth=None)
    assert (reply.status, reply.json()) == (401, UNAUTHORISED)


@pytest.mark.parametrize("header", ["Basic !!!not-base64", "Bearer abc", "Basic " + "YXV0b3N5bmM=", "Basic"])
def test_malformed_authorization_gets_401(header: str, sandbox_client: Client) -> None:
    body, content_type = multipart(HEADER.encode())
    headers = {"Content-Type": content_type, "Authorization": header}
    reply = sandbox_client.request("POST", f"{IMPORT}?tenantId=demo", body, headers, auth=None)
    assert (reply.status, reply.json()) == (401, UNAUTHORISED)


def test_inspection_needs_an_admin(sandbox_client: Client) -> None:
    reply = sandbox_client.request(
        "GET", "/api/sandbox/users?tenantId=demo", auth=("librarian", "change-me-too")
    )
    assert (reply.status, reply.json()) == (401, UNAUTHORISED)


# Tenants


def test_tenant_id_may_be_left_out_when_there_is_one_tenant(sandbox_client: Client) -> None:
    assert sandbox_client.post_csv(HEADER + "s001,Year 7,Students\n", tenant=None).json() == ONE_CREATED
    assert sandbox_client.post_csv(HEADER + "s002,Year 7,Students\n", tenant="").json() == ONE_CREATED
    assert [u["username"] for u in sandbox_client.users()] == ["s001", "s002"]


def test_unknown_tenant_gets_404(sandbox_client: Client) -> None:
    reply = sandbox_client.post_csv(HEADER, tenant="nowhere")
    assert (reply.status, reply.json()) == (404, {"success": False, "summary": "Unknown tenant (nowhere)."})


def test_missing_tenant_id_with_several_tenants_gets_400(two_tenants: Client) -> None:
    reply = two_tenants.post_csv(HEADER, tenant=None, auth=("autosync", "n-secret"))
    summary = "Missing tenantId: this sandbox serves several tenants; add ?tenantId=NAME."
    assert (reply.status, reply.json()) == (400, {"success": False, "summary": summary})


def test_tenants_are_separate(two_tenants: Client) -> None:
    north = ("autosync", "n-secret")
    assert (
        two_tenants.post_csv(HEADER + "s001,Year 7,Students\n", tenant="north", auth=north).json()
        == ONE_CREATED
    )
    assert two_tenants.post_csv(HEADER, tenant="south", auth=north).status == 401
    south = two_tenants.request("GET", "/api/sandbox/users?tenantId=south", auth=("autosync", "s-secret"))
    assert south.json() == []


# Routes and methods


def test_unknown_path_gets_404(sandbox_client: Client) -> None:
    reply = sandbox_client.request("GET", "/api/import/userImages?tenantId=demo")
    assert (reply.status, reply.json()) == (
        404,
        {"success": False, "summary": "Not found: /api/import/userImages."},
    )


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", IMPORT, "POST"),
        ("PUT", IMPORT, "POST"),
        ("DELETE", IMPORT, "POST"),
        ("POST", "/api/sandbox/users", "GET"),
        ("PATCH", "/api/sandbox/faults", "POST, DELETE"),
    ],
)
def test_wrong_method_gets_405(method: str, path: str, allow: str, sandbox_client: Client) -> None:
    reply = sandbox_client.request(method, f"{path}?tenantId=demo")
    summary = f"Method {method} is not allowed here; use {allow}."
    assert (reply.status, reply.json()) == (405, {"success": False, "summary": summary})
    assert reply.headers["allow"] == allow


def test_head_gets_405_without_a_body(sandbox_client: Client) -> None:
    reply = sandbox_client.request("HEAD", f"{IMPORT}?tenantId=demo")
    assert (reply.status, reply.body, reply.headers["allow"]) == (405, b"", "POST")


def test_unsupported_method_gets_501(sandbox_client: Client) -> None:
    reply = sandbox_client.request("BREW", f"{IMPORT}?tenantId=demo")
    assert (reply.status, reply.json()) == (
        501,
        {"success": False, "summary": "Unsupported method ('BREW')."},
    )


# The request body


def test_the_first_file_part_is_the_csv_whatever_its_names(sandbox_client: Client) -> None:
    first, content_type = multipart(
        (HEADER + "s001,Year 7,Students\n").encode(),
        name="anything",
        filename="export.txt",
        before=(("comment", "a plain field first"), ("tenant", "ignored")),
    )
    second, _ = multipart(b"not,a,valid,file\n", name="file", filename="second.csv")
    boundary = content_type.split("boundary=")[1]
    body = first.removesuffix(f"--{boundary}--\r\n".encode()) + second.replace(
        second.split(b"\r\n", 1)[0], f"--{boundary}".encode()
    )
    reply = sandbox_client.request("POST", f"{IMPORT}?tenantId=demo", body, {"Content-Type": content_type})
    assert (reply.status, reply.json()) == (200, ONE_CREATED)


def test_a_request_without_a_file_part_is_rejected(sandbox_client: Client) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nusername\r\n--b--\r\n'
    reply = sandbox_client.request("POST", IMPORT, body, {"Content-Type": "multipart/form-data; boundary=b"})
    summary = "The request has no file part: send the CSV as a multipart file. No users imported."
    assert (reply.status, reply.json()) == (400, {"success": False, "summary": summary})


def test_a_body_that_is_not_multipart_is_rejected(sandbox_client: Client) -> None:
    reply = sandbox_client.request("POST", IMPORT, HEADER.encode(), {"Content-Type": "text/csv"})
    summary = "The request is not multipart/form-data: send the CSV as a multipart file. No users imported."
    assert (reply.status, reply.json()) == (400, {"success": False, "summary": summary})


def test_a_chunked_body_is_read(sandbox_client: Client) -> None:
    body, content_type = multipart((HEADER + "s001,Year 7,Students\n").encode())
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    connection = sandbox_client.connection()
    try:
        connection.request(
            "POST",
            f"{IMPORT}?tenantId=demo",
            body=iter(pieces),
            headers={"Content-Type": content_type, "Authorization": basic(*ADMIN)},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, _json(ONE_CREATED))
    finally:
        connection.close()


def test_keep_alive_connections_serve_several_requests(sandbox_client: Client) -> None:
    connection = sandbox_client.connection()
    try:
        for n in (1, 2):
            body, content_type = multipart((HEADER + f"s00{n},Year 7,Students\n").encode())
            headers = {"Content-Type": content_type, "Authorization": basic(*ADMIN)}
            connection.request("POST", f"{IMPORT}?tenantId=demo", body=body, headers=headers)
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, _json(ONE_CREATED))
    finally:
        connection.close()


def test_a_body_over_the_limit_gets_413(small_limit: Client) -> None:
    reply = small_limit.post_csv(HEADER + "s001,Year 7,Students\n" * 100)
    summary = "The request is larger than 1000 bytes, the sandbox's limit. No users imported."
    assert (reply.status, reply.json()) == (413, {"success": False, "summary": summary})
    assert reply.headers["connection"] == "close"
    assert small_limit.users() == []


def test_a_body_at_the_limit_is_accepted(small_limit: Client) -> None:
    body, content_type = multipart((HEADER + "s001,Year 7,Students\n").encode())
    body = body.replace(b"Content-Type: text/csv", b"Content-Type: text/csv" + b"x" * (1000 - len(body)))
    assert len(body) == 1000
    reply = small_limit.request("POST", IMPORT, body, {"Content-Type": content_type})
    assert (reply.status, reply.json()) == (200, ONE_CREATED)


def test_an_oversize_body_announced_with_expect_100_continue_is_refused_before_it_is_sent(
    small_limit: Client, tmp_path: Path
) -> None:
    (tmp_path / "user-groups.csv").write_text(
        HEADER + "s001,Year 7,Students\n" * 100, encoding="utf-8", newline=""
    )
    done = _curl(small_limit, tmp_path, "-H", "Expect: 100-continue")
    assert done.stdout.endswith("\n413")
    summary = "The request is larger than 1000 bytes, the sandbox's limit. No users imported."
    assert done.stdout.removesuffix("\n413") == _json({"success": False, "summary": summary}).decode()


def test_curl_expect_100_continue_within_the_limit(sandbox_client: Client, tmp_path: Path) -> None:
    (tmp_path / "user-groups.csv").write_text(HEADER + "s001,Year 7,Students\n", encoding="utf-8", newline="")
    done = _curl(sandbox_client, tmp_path, "-H", "Expect: 100-continue")
    assert done.stdout == _json(ONE_CREATED).decode() + "\n200"


# Inspection


def test_users_are_listed_sorted_with_their_stored_fields(sandbox: Sandbox, sandbox_client: Client) -> None:
    csv = HEADER.strip() + ",emailAddress\nt9,Staff,Staff,T9@example.edu\na1,Year 7,Students,\n"
    assert sandbox_client.post_csv(csv).status == 200
    expected = [
        {"username": "a1", "library-group": "Year 7", "system-group": "Students"},
        {
            "username": "t9",
            "library-group": "Staff",
            "system-group": "Staff",
            "emailAddress": "T9@example.edu",
        },
    ]
    assert sandbox_client.users() == expected
    assert sandbox.users("demo") == expected


# Concurrency and size


def test_concurrent_imports_all_apply(sandbox_client: Client) -> None:
    replies: list[int] = []
    lock = threading.Lock()

    def post(n: int) -> None:
        csv = (
            HEADER + "".join(f"u{n:02}-{i},Year 7,Students\n" for i in range(50)) + "shared,Year 8,Students\n"
        )
        reply = sandbox_client.post_csv(csv)
        with lock:
            replies.append(reply.status)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == [200] * 16
    users = sandbox_client.users()
    assert len(users) == 16 * 50 + 1
    assert [u["username"] for u in users] == sorted(u["username"] for u in users)


def test_a_file_of_100000_rows(sandbox_client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    rows = "".join(
        f"s{i:06},Year {7 + i % 6},Students,s{i:06}@example.edu,Given{i},Family{i},FALSE\n"
        for i in range(100_000)
    )
    csv = "username,library-group,system-group,emailAddress,givenName,surname,staffMember\n" + rows
    started = time.perf_counter()
    reply = sandbox_client.post_csv(csv)
    first = time.perf_counter() - started
    summary = "100000 users processed. 100000 users created. 0 users updated. 0 users failed."
    assert (reply.status, reply.json()) == (200, {"success": True, "summary": summary})
    started = time.perf_counter()
    again = sandbox_client.post_csv(csv)
    second = time.perf_counter() - started
    summary = "100000 users processed. 0 users created. 100000 users updated. 0 users failed."
    assert again.json() == {"success": True, "summary": summary}
    users = sandbox_client.users()
    assert len(users) == 100_000
    assert users[7] == {
        "username": "s000007",
        "library-group": "Year 8",
        "system-group": "Students",
        "emailAddress": "s000007@example.edu",
        "givenName": "Given7",
        "surname": "Family7",
        "staffMember": "FALSE",
    }
    with capsys.disabled():
        print(f"\n100,000 rows ({len(csv) / 1e6:.1f} MB): created in {first:.2f}s, updated in {second:.2f}s")


def _json(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _curl(client: Client, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert client.ca_file is not None
    url = client.url.replace("https://", "https://autosync:change-me@") + f"{IMPORT}?tenantId=demo"
    command = ["curl", "-sS", "--cacert", str(client.ca_file), *extra, "-w", "\n%{http_code}"]
    command += ["-X", "POST", "-F", "file=@user-groups.csv", url]
    return subprocess.run(command, cwd=folder, capture_output=True, encoding="utf-8", check=True, timeout=30)
