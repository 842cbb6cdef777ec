"""``python -m elpagen`` and the ``elpagen`` console script.

``elpagen --version`` is answered here with the standard library alone, before the
command line (numpy, torch) is imported: a ``pip install --no-deps`` copy can still say
what it is. Everything else goes to :func:`elpagen.cli.main.main`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from elpagen.version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``elpagen`` command; the exit code (``--version`` needs no dependency)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(f"elpagen {__version__}")
        return 0
    try:
        from elpagen.cli.main import main as cli_main
    except ModuleNotFoundError as e:  # an install without its dependencies (--no-deps)
        missing = (e.name or "").partition(".")[0]
        if not missing or missing == "elpagen":
            raise
        print(f"error: elpagen needs {missing}, which is not installed; install elpagen "
              "with its dependencies (pip install elpagen)", file=sys.stderr)
        return 2
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
