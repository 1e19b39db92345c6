"""Whether a process of this host runs, asked without harming it, on every platform.

POSIX asks with `os.kill(pid, 0)`, which sends nothing. Windows has no such call (there `os.kill` ends the
process), so it opens the process for querying only and reads its exit code: STILL_ACTIVE while it runs.
Either way a process that exists but may not be asked about is taken to run.
"""

from __future__ import annotations

import os
import sys


def runs(pid: int) -> bool:
    """Whether process `pid` of this host runs (one that cannot be asked about is taken to run)."""
    if sys.platform == "win32":
        return _runs_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, and is another user's
        return True
    return True


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    _QUERY_LIMITED_INFORMATION = 0x1000  # PROCESS_QUERY_LIMITED_INFORMATION: the least access there is
    _STILL_ACTIVE = 259
    _ERROR_ACCESS_DENIED = 5

    def _runs_windows(pid: int) -> bool:
        """OpenProcess and GetExitCodeProcess (a process that ended with code 259 looks alive: a
        holder's name believed once too often only names it, it does not take its lock)."""
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = wintypes.HANDLE
        kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
        kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
        kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
        handle = kernel32.OpenProcess(_QUERY_LIMITED_INFORMATION, False, pid)
        if not handle:  # no such process (ERROR_INVALID_PARAMETER), or one we may not open
            return ctypes.get_last_error() == _ERROR_ACCESS_DENIED
        try:
            code = wintypes.DWORD()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == _STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
