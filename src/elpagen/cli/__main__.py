"""``python -m elpagen.cli``: the same as the ``elpagen`` command."""

import sys

from elpagen.cli.main import main

sys.exit(main())
