"""The Windows test mode: with INFINITI_SYNC_TEST_AS_WINDOWS=1 the tests run, and every Python process
they start, without what Windows lacks (tests/support/as_windows/sitecustomize.py says what).

`enter()` (called by tests/__init__.py, before anything of the runner is imported) takes it away from the
test process and puts the folder on PYTHONPATH, where Python's `site` imports the `sitecustomize` of a child
(`python -m runner`, the workers of `run --jobs`, the sandbox) before anything else. Tests whose point is a
POSIX file mode are marked `posix_modes` and skip in this mode, as on Windows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

VARIABLE = "INFINITI_SYNC_TEST_AS_WINDOWS"
AS_WINDOWS = os.environ.get(VARIABLE) == "1"
SITE = Path(__file__).resolve().parent / "as_windows"

LIKE_WINDOWS = AS_WINDOWS or sys.platform == "win32"


def posix_only(why: str) -> pytest.MarkDecorator:
    """Skip a test on Windows and in the Windows test mode, for the reason `why`."""
    return pytest.mark.skipif(LIKE_WINDOWS, reason=f"POSIX only: {why}")


posix_modes = posix_only(
    "file modes (0600, 0700) mean nothing on Windows, where the folder's ACL protects files"
)


def slashed(text: str, roots: Iterable[str], sep: str = os.sep) -> str:
    """`text` with every path under one of `roots` written with `/` after the root, as the expected outputs
    of the case tests write it. The runner shows a path outside the working folder in full, as the system
    writes it: `C:\\...\\out\\demo\\staff.csv` on Windows, each backslash doubled inside JSON."""
    if sep == "/":
        return text
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(json.dumps(root)[1:-1], root)
        under = "(" + re.escape(root) + r")((?:\\{1,2}[^\\\s\"',:;()]+)+)"
        text = re.sub(under, lambda m: m[1] + re.sub(r"\\{1,2}", "/", m[2]), text)
    return text


def enter() -> None:
    """In the Windows test mode, take away what Windows lacks here and in every Python child."""
    if not AS_WINDOWS:
        return
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.fspath(SITE), os.environ.get("PYTHONPATH")) if p
    )
    spec = importlib.util.spec_from_file_location(
        "tests.support.as_windows.sitecustomize", SITE / "sitecustomize.py"
    )
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
