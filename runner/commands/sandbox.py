"""`infiniti-sync sandbox`: serve the Infiniti sandbox until Ctrl-C (exit 130) or SIGTERM (exit 0; on
Windows, where nothing sends SIGTERM to another process, Ctrl-Break does the same).

The first line on standard output is `listening on URL`, for scripts and tests to read; the rest says
which CA to trust, the tenants with their credentials, and cURL commands ready to paste. Requests are
logged on standard error (not with -q).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from runner.console import Console
from runner.contract import CONTACTS_MODE
from runner.errors import EXIT_OK
from runner.sandbox import DB_FILE, IMPORT_PATH, Config, Sandbox, TenantConfig, demo_config, load_config
from runner.sandbox.server import CONTACTS_IMPORT_PATH, CONTACTS_PATH

DEFAULT_TLS_DIR = Path(".infiniti-sync/sandbox")
_UNSAFE_IN_DOUBLE_QUOTES = set('"$`\\!')
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGBREAK") if hasattr(signal, name))


def execute(args: argparse.Namespace, console: Console) -> int:
    """Serve the sandbox described by `args` until stopped."""
    config = load_config(args.config) if args.config else demo_config()
    tls_dir = None if args.no_tls else (args.data or DEFAULT_TLS_DIR).absolute()
    data = args.data.absolute() if args.data else None
    sandbox = Sandbox(
        config,
        host=args.host,
        port=args.port,
        tls=not args.no_tls,
        tls_dir=tls_dir,
        data_dir=data,
        log=console.message,
    )
    stop = threading.Event()
    with _on_stop_signals(stop), sandbox:
        for line in banner(sandbox, config, data):
            console.print(line)
        console.out.flush()
        while not stop.wait(0.5):
            pass
    console.message("sandbox stopped")
    return EXIT_OK


@contextlib.contextmanager
def _on_stop_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGTERM (and Windows' SIGBREAK) while the block runs (signals can only be caught in
    the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def banner(sandbox: Sandbox, config: Config, data: Path | None) -> Iterator[str]:
    """What the sandbox prints on start: its URL first, then trust, storage, tenants and commands."""
    yield f"listening on {sandbox.url}"
    yield f"Infiniti sandbox: the autoSync import is POST {sandbox.url}{IMPORT_PATH}?tenantId=TENANT"
    yield (
        f"  and the contacts import POST {sandbox.url}{CONTACTS_IMPORT_PATH}/{CONTACTS_MODE}?tenantId=TENANT "
        "(as far as public sources show it)"
    )
    if sandbox.ca_file:
        yield f"TLS: trust the CA in {sandbox.ca_file} (curl --cacert, or ca_bundle: in a project)"
    else:
        yield "TLS: off (plain HTTP)"
    if data:
        yield f"users: kept in {data / DB_FILE}"
    else:
        yield "users: kept in memory (gone when the sandbox stops; --data DIR keeps them)"
    for name, tenant in config.tenants.items():
        yield from _tenant_lines(sandbox, name, tenant)
    yield "stop: Ctrl-C (exit 130) or SIGTERM (exit 0)"


def _tenant_lines(sandbox: Sandbox, name: str, tenant: TenantConfig) -> Iterator[str]:
    yield f"tenant {name}"
    accounts = [
        f"{user} / {u.password} ({'admin' if u.admin else 'no admin: refused'})"
        for user, u in tenant.users.items()
    ]
    yield f"  users: {', '.join(accounts)}"
    yield f"  library groups: {', '.join(tenant.library_groups) or '(none)'}"
    yield f"  system groups: {', '.join(tenant.system_groups) or '(none)'}"
    admin = next((user for user, u in tenant.users.items() if u.admin), None)
    if admin is None:
        return
    password = tenant.users[admin].password
    scheme, _, rest = sandbox.url.partition("://")
    userinfo = f"{quote(admin, safe='')}:{quote(password, safe='')}"
    url = f"{scheme}://{userinfo}@{rest}{IMPORT_PATH}?tenantId={quote(name, safe='')}"
    insecure = "-k " if sandbox.ca_file else ""
    post = f'-X POST -F "file=@user-groups.csv" {_shell(url)}'
    yield f"  import (the contract's command): curl {insecure}{post}"
    if sandbox.ca_file:
        yield f"  import, TLS verified: curl --cacert {shlex.quote(str(sandbox.ca_file))} {post}"
    users_url = f"{sandbox.url}/api/sandbox/users?tenantId={quote(name, safe='')}"
    trust = f"--cacert {shlex.quote(str(sandbox.ca_file))} " if sandbox.ca_file else ""
    yield f"  what it holds: curl {trust}-u {shlex.quote(f'{admin}:{password}')} {_shell(users_url)}"
    contacts_url = f"{sandbox.url}{CONTACTS_PATH}?tenantId={quote(name, safe='')}"
    yield f"  its contacts: curl {trust}-u {shlex.quote(f'{admin}:{password}')} {_shell(contacts_url)}"


def _shell(text: str) -> str:
    """`text` in double quotes as the contract writes its URL, or shell-quoted when that is not safe."""
    if _UNSAFE_IN_DOUBLE_QUOTES.isdisjoint(text):
        return f'"{text}"'
    return shlex.quote(text)
