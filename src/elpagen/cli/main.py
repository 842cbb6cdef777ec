"""The ``elpagen`` parser and entry point.

Every command prints a one-line ``error: ...`` and exits 2 on bad input (an
:class:`elpagen.errors.UserError`); anything else is a bug: its traceback is printed,
with a hint to report it, and the exit code is 3. ``faulthandler`` is on, so even a
native crash prints where it happened.

Output cut short by its reader (``elpagen data | head -1``: a closed pipe) is not an
error: the command stops quietly, with exit code 0 (as ``sample -o - | head``), so a
script with ``set -o pipefail`` goes on.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from elpagen.cli import campaign as campaign_cli
from elpagen.cli import data, frontier, materials, models, search, space, study
from elpagen.cli import leaderboard as leaderboard_cli
from elpagen.cli.common import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, clip_set_values, log
from elpagen.errors import is_user_error, printable
from elpagen.version import __version__


def build_parser() -> argparse.ArgumentParser:
    from elpagen import spaces
    from elpagen.models.plugins import installed_later

    default = spaces.DEFAULT
    parser = argparse.ArgumentParser(
        prog="elpagen",
        description=f"Generative models in a composition space (default: {default.name} "
                    f"{default.formula_pattern}) and the benchmark to judge them.",
    )
    parser.add_argument("--version", action="version", version=f"elpagen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # The help texts list the built-in models: installed plug-ins are read only when a
    # command needs them (a broken one must not speak on every command, --help included).
    with installed_later():
        data.add_parsers(sub)
        models.add_parsers(sub)
        frontier.add_parsers(sub)
        search.add_parser(sub)
        study.add_parsers(sub)
        materials.add_parsers(sub)
        leaderboard_cli.add_parsers(sub)
        campaign_cli.add_parsers(sub)
        space.add_parsers(sub)
    parser.formatter_class = HelpFormatter
    for p in sub.choices.values():  # a subparser does not inherit its parent's formatter
        p.formatter_class = HelpFormatter
    return parser


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, wrapping at spaces only: a comma-separated list in a help text
    (``random,ridge,greedy``) is never cut inside a word ("ran dom")."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        text = " ".join(text.split())
        return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    log(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    # A native crash (segfault in a BLAS, out-of-memory kill inside a C library) must
    # never be silent: print the Python stack of every thread to stderr.
    if not faulthandler.is_enabled():
        faulthandler.enable()
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        # Warnings (a rebuilt cache, a duplicate DFT row) as one line each, like errors.
        warnings.showwarning = _one_line_warning
        try:
            code = _run(args)
            sys.stdout.flush()  # a closed pipe shows here when the output was buffered
        except BrokenPipeError:  # stdout's reader went away: no traceback, no error
            from elpagen import io

            io.quiet_broken_pipe()  # the final flush at exit must not complain either
            return 0
        return code


def _stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has gone (or stdout cannot be asked, as when
    a test captures it); a broken pipe elsewhere (a socket) is not the reader's doing."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True


def _run(args: argparse.Namespace) -> int:
    """Run the command; user errors become one line (exit 2), bugs keep the traceback (3)."""
    try:
        from elpagen import progress, threads

        threads.configure(getattr(args, "threads", None))
        # -q and --json: no progress at all (stdout carries the result, stderr stays clean).
        progress.configure(not (getattr(args, "quiet", False) or getattr(args, "json", False)))
        try:
            return args.func(args)
        finally:
            progress.configure(True)  # a caller's next command (tests run many) starts afresh
    except KeyboardInterrupt:
        log("interrupted; nothing half-written was kept")
        return EXIT_INTERRUPTED
    except Exception as e:
        if isinstance(e, BrokenPipeError) and _stdout_gone():
            raise  # stdout's reader went away: main() ends quietly
        if is_user_error(e) and not os.environ.get("ELPAGEN_DEBUG"):
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            msg = clip_set_values(msg, getattr(args, "set", None))
            log(f"error: {printable(msg)}")  # a file's or server's words: no escapes
            return EXIT_USAGE
        if is_user_error(e):  # ELPAGEN_DEBUG=1: the traceback of a user error
            raise
        # Anything else is a bug in elpagen or a library: keep the traceback, say so.
        traceback.print_exc()
        log(f"elpagen {__version__}: internal error ({type(e).__name__}); this is a bug, "
             "please report it with the traceback above and the command you ran")
        return EXIT_BUG


