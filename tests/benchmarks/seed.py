"""Put a planned file's users into a state store as a first run accepting all of them records them, and
print the seconds `StateStore.record` took (the benchmark's `record_s` figures).

    python -m tests.benchmarks.seed STATE FILE TENANT SPEC

STATE is a SQLite path or a PostgreSQL URL; FILE a file `plan` wrote. The fingerprints are worked out
before the clock starts, so only writing them is timed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from runner.changes import accepted_fingerprints
from runner.csvfile import read_records
from runner.state import RunRecord, StateStore, now


def main(argv: Sequence[str]) -> int:
    """Record every line of the file as accepted; print the seconds recording took."""
    location, path, tenant, spec = argv
    accepted = list(accepted_fingerprints(read_records(Path(path)), set()))
    started = now()
    run = RunRecord(tenant, spec, started, started, "ok", 0, "incremental", rows_read=len(accepted))
    store = StateStore.open(location, environ=os.environ)
    try:
        clock = time.perf_counter()
        store.record(run, accepted)
        seconds = time.perf_counter() - clock
    finally:
        store.close()
    print(f"{seconds:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
