"""The ``elpagen`` command line: the top layer (nothing in elpagen imports it).

* :mod:`elpagen.cli.main`: the parser and ``main`` (the console entry point);
* :mod:`elpagen.cli.common`: shared options, loading, output and exit codes;
* one module per command group: ``data`` (data, reference, evaluate), ``models`` (sample,
  train, benchmark, run), ``study`` (study, report), ``search``.
"""

from elpagen.cli.common import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, CLIError
from elpagen.cli.main import build_parser, main

__all__ = ["EXIT_BUG", "EXIT_INTERRUPTED", "EXIT_USAGE", "CLIError", "build_parser", "main"]
