"""The tests. Importing the package starts the Windows test mode when asked (tests/support/windows.py),
before the conftest imports anything of the runner."""

from tests.support import windows

windows.enter()
