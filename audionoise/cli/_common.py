"""What every subcommand shares: the help format, ``-q/--quiet``, path checks and the user-error rule.

A *user error* is something the person running the command can fix (a missing or unreadable path, a bad option
value, an invalid config, a missing optional dependency): ``audionoise`` prints it as one line on stderr and
exits with status 2. Anything else is a bug and keeps its traceback. This module must stay light: ``audionoise
--help`` imports it, and must not import torch.
"""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

from audionoise.runtime.extras import MissingExtraError


class UsageError(Exception):
    """A user error found by a subcommand before it starts working (exit status 2)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (unless it is None/False or the help already says it) and keeps line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or "(default" in text:
            return text
        return super()._get_help_string(action)


def int_at_least(minimum: int):
    """An argparse ``type`` for integers ``>= minimum``, with a one-line message for anything else."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{v} must be >= {minimum}")
        return v

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in its own messages
    return parse


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no progress bars or progress lines (results and errors are still printed)."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or progress lines; results and errors are still printed")


def existing_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path if it is a readable folder, else :class:`UsageError` naming ``what``."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} {str(p)!r} does not exist; check the path")
    if not p.is_dir():
        raise UsageError(f"{what} {str(p)!r} is not a folder; pass a folder")
    if not os.access(p, os.R_OK | os.X_OK):
        raise UsageError(f"{what} {str(p)!r} is not readable; check its permissions")
    return p


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path if it is a readable file, else :class:`UsageError` naming ``what``."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} {str(p)!r} does not exist; check the path")
    if p.is_dir():
        raise UsageError(f"{what} {str(p)!r} is a folder; pass a file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{what} {str(p)!r} is not readable; check its permissions")
    return p


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a user error (one line, exit 2) rather than a bug (traceback).

    User errors: :class:`UsageError`; a missing optional dependency (:class:`~audionoise.runtime.extras.MissingExtraError`);
    an ``OSError`` about a named path (missing, unreadable, not writable, disk full); a ``ValueError`` raised by
    audionoise's own input validation (every public entry point checks its arguments and says what to do). A
    ``ValueError`` raised inside torch, numpy or other libraries is not: it means audionoise let bad input through.
    """
    if isinstance(exc, (UsageError, MissingExtraError)):
        return True
    if isinstance(exc, OSError):
        return exc.filename is not None
    if isinstance(exc, ValueError):
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
        return module == "audionoise" or module.startswith("audionoise.")
    return False


_OS_HINTS = {errno.ENOENT: "check the path", errno.EACCES: "check its permissions",
             errno.EPERM: "check its permissions", errno.EROFS: "choose a writable folder",
             errno.ENOSPC: "free some disk space or choose another folder",
             errno.EISDIR: "pass a file, not a folder", errno.ENOTDIR: "pass a folder, not a file"}


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (for an ``OSError``: the path, the reason and what to do)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        hint = _OS_HINTS.get(exc.errno)
        text = f"{exc.filename}: {exc.strerror or exc}" + (f"; {hint}" if hint else "")
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__
