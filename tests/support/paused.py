"""`python -m tests.support.paused MARKER ARGS...`: the runner's command line with a pause inside the state
store's record transaction, so that a test can kill a runner in the middle of recording.

Just before the commit, the runner writes its process id to MARKER and waits while MARKER exists (at most a
minute, so that a broken test cannot leave a runner behind). The hook is injected here, in the test's child
process; the runner itself reads nothing of it from its environment.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from runner.cli import main
from runner.state import StateStore

LIMIT = 60.0


def pause(marker: Path) -> None:
    """Say so in `marker`, then wait while it exists."""
    marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
    deadline = time.monotonic() + LIMIT
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


if __name__ == "__main__":
    where = Path(sys.argv[1])
    StateStore.before_commit = lambda: pause(where)
    raise SystemExit(main(sys.argv[2:]))
