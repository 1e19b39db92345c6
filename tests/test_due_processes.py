"""Two `run --all --due` processes started at once on one PostgreSQL store (a schema of this test's own):
every due job is run, and recorded, exactly once, whichever runner gets to it first; the other finds its
lock held, or the job no longer due once it has the lock, and leaves it (not recorded, not an error)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.support import stores
from tests.support.project import DEMO_ENV, Site
from tests.support.stores import StateUnderTest

postgres_store = stores.postgres_store_fixture
REPOSITORY = Path(__file__).resolve().parent.parent
TENANTS = [f"school{n}" for n in range(1, 9)]
TENANT = """\
  {name}:
    url: https://127.0.0.1:8443
    tenant_id: demo
    username: autosync
    password: {{env: INFINITI_DEMO_PASSWORD}}
    ca_bundle: .infiniti-sync/sandbox/ca.pem
    connections:
      export: {{files: sms-export}}
    vars: {{campus: North}}
    specs: [staff, students]
    schedule: "@yearly"
"""


def _runner(site: Site, store: StateUnderTest, *args: str) -> subprocess.Popen[str]:
    path = os.pathsep.join(p for p in (os.fspath(REPOSITORY), os.environ.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "--all", "--due", *args, "--project", os.fspath(site.root)],
        cwd=site.root,
        env={**os.environ, **DEMO_ENV, **store.env, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
    )


def test_two_runners_at_once_run_each_due_job_once(tmp_path: Path, postgres_store: StateUnderTest) -> None:
    site = Site.start(tmp_path / "project")
    try:
        text = site.project_file.read_text(encoding="utf-8")
        head = text[: text.index("tenants:\n")]
        body = "".join(TENANT.format(name=name) for name in TENANTS).replace(
            "https://127.0.0.1:8443", site.sandbox.url
        )
        site.project_file.write_text(head + "tenants:\n" + body, encoding="utf-8")
        postgres_store.use(site.project_file)
        # one waits for the other's locks, one leaves them: both ways of meeting a job the other has
        runners = [_runner(site, postgres_store, "--wait", "60"), _runner(site, postgres_store, "-v")]
        done = [(p.communicate(timeout=120), p.returncode) for p in runners]
    finally:
        site.stop()
    for (out, err), code in done:
        assert code == 0, out + err
    reported = Counter(
        line.split(":")[0] for (out, _), _ in done for line in out.splitlines() if line.startswith("school")
    )
    jobs = {f"{t}/{s}" for t in TENANTS for s in ("staff", "students")}
    assert reported == Counter(dict.fromkeys(jobs, 1))
    recorded = Counter(f"{row[1]}/{row[2]}" for row in postgres_store.tables()["infiniti_sync_runs"])
    assert recorded == Counter(dict.fromkeys(jobs, 1))
    assert {row[5] for row in postgres_store.tables()["infiniti_sync_runs"]} == {"ok"}
