"""A command run in a process of its own that then tells what it imported: the modules the command itself
imported (those of the interpreter's start, `site` and its .pth files, aside) and how many full collections
the cycle collector made, with the command's exit code (tests/test_startup.py, tests/test_state_imports.py).

    found = imported(site, "run", "--tenant", "demo")
    found["code"], found["modules"], found["full_collections"]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.project import DEMO_ENV, Site

ROOT = Path(__file__).resolve().parents[2]
PROBE = """\
import gc, json, sys
before = set(sys.modules)  # what the interpreter's start (site) imported is not the command's
full = gc.get_stats()[2]["collections"]
from runner.cli import main
sys.argv = ["infiniti-sync", *sys.argv[1:]]  # the process's own command line, as the installed command has
code = main()
print(json.dumps({
    "code": code,
    "modules": sorted(set(sys.modules) - before),
    "full_collections": gc.get_stats()[2]["collections"] - full,
}))
"""


def imported(site: Site, *args: str) -> dict[str, Any]:
    """What `infiniti-sync ARGS --project SITE` told of itself, run in the site's folder."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "--project", os.fspath(site.root)],
        cwd=site.root,
        env={**os.environ, **DEMO_ENV, "PYTHONPATH": os.fspath(ROOT)},
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return found


def printed(code: str) -> str:
    """What the Python `code` printed, run in a process of its own (so that its imports are its own)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": os.fspath(ROOT)},
        capture_output=True,
        encoding="utf-8",
        check=True,
    )
    return done.stdout.strip()
