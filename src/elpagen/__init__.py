"""elpagen: generative models in Elpasolite composition space, and the harness to judge them.

The stable Python API::

    import elpagen
    train = elpagen.load_training_set()          # the DFT data ($ELPAGEN_DATA or a path)
    ref = elpagen.reference_energies(train)      # all 1,974,024 compositions, cached
    elpagen.evaluate(codes_or_symbols, target_class=1, train=train, reference=ref)

    class MyModel(elpagen.Generator): ...        # fit / propose; sample() comes with it
    print(elpagen.benchmark([MyModel, "vae"], target_class=1, seeds=3))  # a BenchmarkTable

Everything else lives in one module per concept (``elpagen.space``, ``.data``,
``.reference``, ``.metrics``, ``.models``, ``.catalogue``, ``.harness``...).
"""

from elpagen.api import (
    BenchmarkTable,
    benchmark,
    evaluate,
    load_training_set,
    reference_energies,
)
from elpagen.errors import UserError
from elpagen.generator import Generator, Samples
from elpagen.version import __version__

__all__ = [
    "BenchmarkTable",
    "Generator",
    "Samples",
    "UserError",
    "__version__",
    "benchmark",
    "evaluate",
    "load_training_set",
    "reference_energies",
]
