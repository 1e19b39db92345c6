"""The Python the runner writes for a spec (its render function, its pre-checks, its plan loop), compiled
once per text in a process.

The text names no tenant's values: vars, lookups, groups and the state's arrays are names of the namespace
each function is executed in, never part of its source. So every tenant of `run --all` that runs the same
spec generates the same text, and the thousandth tenant reuses the first one's code object (compiling a plan
loop costs about half a millisecond, a small tenant's whole run a few).
"""

from __future__ import annotations

from functools import lru_cache
from types import CodeType
from typing import Literal


@lru_cache(maxsize=1024)
def code(source: str, name: str, mode: Literal["exec", "eval"] = "exec") -> CodeType:
    """`source` compiled by Python, as `name` in tracebacks."""
    return compile(source, name, mode)


def compilations() -> int:
    """How many texts this process has compiled."""
    return code.cache_info().misses


def forget() -> None:
    """Compile every text again from now on (the tests' fresh start: as a new process)."""
    code.cache_clear()
