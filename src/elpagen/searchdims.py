"""One searched setting of a hyperparameter search: the vocabulary of the search spaces
that the model catalogue (:mod:`elpagen.catalogue`) declares and ``elpagen search`` samples.

Kept apart from :mod:`elpagen.search` so the catalogue can name each model's space without
loading the search machinery (and the search can read the catalogue without a circle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dim:
    """One searched setting: an Optuna parameter and its range.

    ``budget``: ``low``/``high`` are multiples of the protocol's ``steps``.
    ``quick``: the (absolute) range under ``--quick``; None keeps the normal one.
    """

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = True
    quick: tuple[float, float] | None = None
    budget: bool = False

    def bounds(self, base_steps: int, quick: bool) -> tuple[float, float]:
        if quick and self.quick is not None:
            return self.quick
        if self.budget:
            return max(1, round(self.low * base_steps)), max(1, round(self.high * base_steps))
        return self.low, self.high

    def suggest(self, trial: Any, base_steps: int, quick: bool) -> int | float:
        lo, hi = self.bounds(base_steps, quick)
        if self.integer:
            return trial.suggest_int(self.name, int(lo), int(hi), log=self.log)
        return trial.suggest_float(self.name, float(lo), float(hi), log=self.log)
