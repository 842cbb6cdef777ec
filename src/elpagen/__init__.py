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

The names above load on first use (PEP 562): ``import elpagen`` alone imports neither
numpy nor torch, so ``elpagen --version`` works in an install without its dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from elpagen.version import __version__

if TYPE_CHECKING:
    from elpagen.api import (
        BenchmarkTable,
        benchmark,
        evaluate,
        load_training_set,
        reference_energies,
    )
    from elpagen.errors import UserError
    from elpagen.generator import Generator, Samples

#: Each public name and the module it comes from (imported when the name is first read).
_LAZY = {
    "BenchmarkTable": "elpagen.api", "benchmark": "elpagen.api", "evaluate": "elpagen.api",
    "load_training_set": "elpagen.api", "reference_energies": "elpagen.api",
    "UserError": "elpagen.errors", "Generator": "elpagen.generator",
    "Samples": "elpagen.generator",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'elpagen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # read once; later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
