"""`python -m tests.support.queued MARKER ARGS...`: the runner's command line, writing its process id to
MARKER the first time it finds a lock held and waits for it (`--wait`), so that a test knows this runner is
queued behind another that holds the job's lock.

Both lock kinds (runner.state.filelock, runner.state.advisory) are wrapped here, in the test's child process:
each attempt is the runner's own, its answer unchanged; the runner itself reads nothing of this.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from runner.cli import main
from runner.state import advisory, filelock


def _telling(marker: Path, name: str, module: Any) -> None:
    """Wrap `module.name`, an attempt to take a lock (None or False: held), to say so in `marker`."""
    attempt = getattr(module, name)

    def wrapped(*args: Any) -> Any:
        got = attempt(*args)
        if not got and not marker.exists():
            marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
        return got

    setattr(module, name, wrapped)


if __name__ == "__main__":
    where = Path(sys.argv[1])
    _telling(where, "_try_hold", filelock)
    _telling(where, "_try", advisory)
    raise SystemExit(main(sys.argv[2:]))
