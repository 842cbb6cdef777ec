"""The time left of a study run: an estimate for the progress lines of
:func:`elpagen.study.runner.run_study`, from the units run so far in this process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from elpagen.progress import format_duration
from elpagen.study.plan import Experiment, Unit
from elpagen.study.unit import fit_key


def _kind(unit: Unit) -> str:
    """The experiment and target class of ``unit`` (``frontier/c5``): what its rate is
    pooled by."""
    return f"{unit.experiment}/c{unit.target_class}"


class TimeLeft:
    """About how long the units still to run take, from the units run so far in this
    process: sampling time per valid sample by experiment and model (else by experiment,
    by model, or over all units), and training time per fit by model (for the fit keys
    not trained yet). Experiments are told apart by target class too: a class-5 frontier
    unit (25 M samples per knob value, or an exact expectation that costs seconds whatever
    N) is not a class-1 one scaled up. Only an estimate: the first units of an experiment
    make it rough, and the line says so."""

    def __init__(self) -> None:
        self.rate: dict[tuple[str, str], list[float]] = {}  # [seconds, samples]
        self.fits: dict[str, list[float]] = {}  # model -> fit seconds

    def add(self, unit: Unit, fit_seconds: float | None, sample_seconds: float) -> None:
        """One finished unit; ``fit_seconds`` None: its fit was already in memory."""
        r = self.rate.setdefault((_kind(unit), unit.model), [0.0, 0.0])
        r[0] += max(sample_seconds, 0.0)
        r[1] += max(unit.n_samples, 1)
        if fit_seconds is not None:
            self.fits.setdefault(unit.model, []).append(fit_seconds)

    def _per_sample(self, experiment: str, model: str) -> float:
        def pooled(keys) -> float | None:
            pairs = [self.rate[k] for k in keys]
            n = sum(p[1] for p in pairs)
            return sum(p[0] for p in pairs) / n if n else None

        for keys in ([k for k in self.rate if k == (experiment, model)],
                     [k for k in self.rate if k[0] == experiment],
                     [k for k in self.rate if k[1] == model], list(self.rate)):
            v = pooled(keys)
            if v is not None:
                return v
        return 0.0

    def seconds(self, rest: Sequence[Unit], fitted: Mapping[str, Any]) -> float:
        """The estimate for ``rest``; ``fitted``: the fit keys in memory (no training)."""
        total = 0.0
        to_fit: dict[str, str] = {}
        for u in rest:
            total += self._per_sample(_kind(u), u.model) * max(u.n_samples, 1)
            if u.experiment == Experiment.CAMPAIGN:
                continue  # a campaign fits nothing (its strategy is no catalogue model)
            fk = fit_key(u)
            if fk not in fitted:
                to_fit[fk] = u.model
        every = [s for v in self.fits.values() for s in v]
        for model in to_fit.values():
            times = self.fits.get(model) or every
            total += sum(times) / len(times) if times else 0.0
        return total

    def describe(self, rest: Sequence[Unit], fitted: Mapping[str, Any]) -> str:
        """``; about 12 min left`` (``rough`` while an experiment still to run has no
        timed unit); empty when nothing is left."""
        if not rest:
            return ""
        left = format_duration(self.seconds(rest, fitted))
        seen = {e for e, _ in self.rate}
        unseen = list(dict.fromkeys(
            # "class5", not "class5 class 5"
            str(u.experiment) if str(u.experiment).startswith("class")
            else f"{u.experiment} class {u.target_class}"
            for u in rest if _kind(u) not in seen))
        if unseen:
            return f"; roughly {left} left ({', '.join(unseen)} not timed yet)"
        return f"; about {left} left"
