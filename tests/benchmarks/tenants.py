"""The benchmark's figures for many tenants and for start-up.

- `run --all` over N small tenants (the example's six staff rows each) with `--jobs 1` and `--jobs 2`: what
  a second worker process adds on this machine's cores (throughput ratio: `--jobs 1` time / `--jobs 2` time).
- the start-up of `run --tenant demo --spec staff` on the example project, against the least any Python
  program that reads a CSV and speaks TLS pays: `python -c "import ssl, sqlite3, csv"`.
- `validate` of a project whose `tenants:` names a folder of N tenant files (a department's generated
  project), each file its own school with its own vars.

Each measurement starts from no state, so every run sends (the sandbox answers with updates).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "runner" / "example"
TENANT = """\
  {name}:
    url: {url}
    tenant_id: demo
    username: autosync
    password: {{env: INFINITI_DEMO_PASSWORD}}
    ca_bundle: {ca}
    connections:
      export: {{files: sms-export}}
    vars: {{campus: North}}
    specs: [staff]
"""


def example(work: Path, url: str, ca: Path, tenants: int = 0) -> Path:
    """The example project in `work`, pointed at the sandbox; with `tenants`, that many copies of its
    tenant (t0001, t0002, ...) instead of `demo`, all importing into the sandbox's demo tenant."""
    folder = work / (f"tenants-{tenants}" if tenants else "example")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLE, folder)
    text = (folder / "infiniti-sync.yaml").read_text(encoding="utf-8")
    text = text.replace("https://127.0.0.1:8443", url).replace(".infiniti-sync/sandbox/ca.pem", os.fspath(ca))
    if tenants:
        head = text[: text.index("tenants:\n")]
        body = "".join(
            TENANT.format(name=f"t{n:04d}", url=url, ca=os.fspath(ca)) for n in range(1, tenants + 1)
        )
        text = head + "tenants:\n" + body
    (folder / "infiniti-sync.yaml").write_text(text, encoding="utf-8")
    return folder


def tenant_files(work: Path, count: int) -> Path:
    """The example project in `work` with its tenants in a folder of `count` tenant files (t0001.yaml, ...),
    all valid; returns the project folder."""
    folder = work / f"tenant-files-{count}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLE, folder, symlinks=True)
    text = (folder / "infiniti-sync.yaml").read_text(encoding="utf-8")
    (folder / "infiniti-sync.yaml").write_text(
        text[: text.index("tenants:\n")] + "tenants: tenants\n", encoding="utf-8"
    )
    (folder / "tenants").mkdir()
    for n in range(1, count + 1):
        entry = TENANT.format(name="", url=f"https://t{n:04d}.concordinfiniti.com", ca="ca.pem")
        body = "".join(line[4:] + "\n" for line in entry.splitlines()[1:])
        body = body.replace("campus: North", f"campus: Campus {n}")
        (folder / "tenants" / f"t{n:04d}.yaml").write_text(body, encoding="utf-8")
    return folder


def fresh(folder: Path) -> Path:
    """`folder` with no state or archive: the next run is a first run. The last run's are moved aside,
    to `spent` beside it (removed by `clear`), not deleted: on ext4 without a journal (this benchmark's
    machine) a new inode skips every one deleted in the last minute, so deleting a thousand tenants'
    files just before a run made its file creation several times slower (kernel time, 10 CPU-seconds
    for `--jobs 1`), which no school's scheduled run sees."""
    state = folder / ".infiniti-sync"
    if state.exists():
        spent = folder.parent / "spent"
        spent.mkdir(exist_ok=True)
        state.rename(spent / f"{folder.name}-{len(list(spent.iterdir()))}")
    return folder


def clear(folder: Path) -> None:
    """Remove what `fresh` moved aside from beside `folder`."""
    shutil.rmtree(folder.parent / "spent", ignore_errors=True)


def run_all(python: str, jobs: int) -> list[str]:
    """The command line of `run --all` with `jobs` worker processes."""
    return [python, "-m", "runner", "run", "--all", "-q", "--jobs", str(jobs)]


def run_tenant(python: str = sys.executable) -> list[str]:
    """The command line of one tenant's run of one spec on the example project."""
    return [python, "-m", "runner", "run", "--tenant", "demo", "--spec", "staff", "-q"]


def floor_startup(python: str = sys.executable) -> list[str]:
    """The least a Python program that reads a CSV and speaks TLS pays to start."""
    return [python, "-c", "import ssl, sqlite3, csv"]
