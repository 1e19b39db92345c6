"""Replacing a file whole: a reader at any moment finds the old file or the new one, never half of one.

The data goes to a hidden temporary file in the same folder (so the rename never crosses a file system),
is flushed to the disk, given its mode, and renamed over the target. Windows refuses that rename while
another process has the target open for a moment (a collector reading the metrics file), so there it is
tried a few times; elsewhere a refusal is final.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

_REPLACE_TRIES = 10  # on Windows, 0.1 s apart
_PAUSE = 0.1


def replace_file(path: Path, data: bytes, *, mode: int) -> None:
    """Write `data` to `path` atomically, the file readable as `mode` says (on POSIX; on Windows the
    folder's ACL decides). The temporary file is removed when anything fails."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    part = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:  # mkstemp made it 0600: no one else can read it yet
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(part, mode)
        for attempt in range(_REPLACE_TRIES):
            try:
                os.replace(part, path)
                return
            except PermissionError:
                if os.name != "nt" or attempt == _REPLACE_TRIES - 1:
                    raise
                time.sleep(_PAUSE)
    finally:
        part.unlink(missing_ok=True)  # nothing to remove once it is renamed
