"""Where a result's reference energies came from: :class:`ReferenceProvenance`, the
``"oracle"`` entry of benchmark and frontier results, of the study's settings and of its
reference artifact (one typed value instead of a dict built by hand in each place).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReferenceProvenance:
    """The reference energies' kernel ridge parameters, and what is known of their fit
    and of how this run got them. ``None``: not known here (a study's settings hold the
    parameters alone; a benchmark adds the held-out error; the study's reference artifact
    adds the build and load times)."""

    sigma: float
    lam: float
    holdout_mae: float | None = None
    build_seconds: float | None = None
    from_cache: bool | None = None
    load_seconds: float | None = None

    @classmethod
    def parameters(cls, sigma: float | None = None, lam: float | None = None
                   ) -> ReferenceProvenance:
        """The parameters alone (default: those the reference energies are built with)."""
        if sigma is None or lam is None:
            from elpagen import reference

            sigma = reference.DEFAULT_SIGMA if sigma is None else sigma
            lam = reference.DEFAULT_LAMBDA if lam is None else lam
        return cls(sigma=sigma, lam=lam)

    @classmethod
    def of(cls, ref: Any, *, from_cache: bool | None = None,
           load_seconds: float | None = None) -> ReferenceProvenance:
        """Of reference energies ``ref``: parameters and held-out error; with
        ``from_cache`` also their build time and this run's load time."""
        timed = from_cache is not None
        return cls(sigma=ref.sigma, lam=ref.lam, holdout_mae=ref.holdout_mae,
                   build_seconds=ref.seconds if timed else None,
                   from_cache=from_cache, load_seconds=load_seconds if timed else None)

    def to_dict(self) -> dict[str, Any]:
        """The ``"oracle"`` entry as results and stores have always held it: ``sigma``,
        ``lambda``, then ``holdout_mae``, ``build_seconds``, ``from_cache``,
        ``load_seconds`` where known."""
        out: dict[str, Any] = {"sigma": self.sigma, "lambda": self.lam}
        if self.holdout_mae is not None:
            out["holdout_mae"] = self.holdout_mae
        if self.from_cache is not None:
            out.update(build_seconds=self.build_seconds, from_cache=self.from_cache,
                       load_seconds=self.load_seconds)
        return out
