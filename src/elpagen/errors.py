"""The project's error types: one :class:`UserError` base for everything a user can fix.

The command line prints exactly these as a one-line ``error: ...`` with exit code 2;
any other exception is a bug and keeps its traceback. Each domain error also derives
from the built-in type a Python caller would expect (``ValueError`` for a bad value,
``RuntimeError`` for a failed run), so library users can catch either.

This module is at the bottom of the package: it imports nothing from elpagen.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment; the message names it and the fix."""


class InputError(UserError, ValueError):
    """A bad argument value (class number, sample count, setting, file content...)."""


class UsageError(UserError):
    """A command-line usage problem (conflicting or missing options)."""


def is_user_error(e: BaseException) -> bool:
    """True for errors a user can fix: our own types, and a few of the environment's.

    A refused write (permission, full disk, read-only file system) or an existing file
    is the user's environment, not a bug. Everything else (a ``ValueError`` from numpy,
    a ``KeyError`` in our code) is a bug and must keep its traceback.
    """
    import errno

    if isinstance(e, (UserError, FileExistsError, PermissionError)):
        return True
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


def printable(text: str) -> str:
    """``text`` with every control character (terminal escapes, carriage returns, line
    breaks; C0, DEL and C1) shown as ``\\xNN``: what a server or a file says is printed
    as text, never run by the terminal."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or 127 <= ord(c) < 160 else c
                   for c in text)
