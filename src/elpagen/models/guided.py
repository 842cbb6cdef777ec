"""Class-contrast guidance: rejection sampling of a generator's proposals by a class
posterior (``ar``'s ``guidance`` setting, and :class:`Guided` for any base generator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from elpagen.data import TrainingSet
from elpagen.errors import InputError
from elpagen.generator import Generator, SamplingError
from elpagen.space import CompositionSpace


class Judge(Protocol):
    """What a judge offers (:class:`elpagen.models.ar.ARModel` and its subclass gfn; ar
    imports this module, so the type is described rather than imported)."""

    name: str

    def class_posterior(self, codes: np.ndarray, target_class: int) -> np.ndarray: ...

    def _require_single(self) -> object: ...


#: Rounds of guided rejection sampling before giving up (see ARConfig.guidance).
GUIDANCE_ROUNDS = 200


def guided_rejection(
    draw: Callable[[int], np.ndarray],
    posterior: Callable[[np.ndarray], np.ndarray],
    w: float,
    n: int,
    rng: np.random.Generator,
    name: str,
) -> np.ndarray:
    """n raw proposals of ``draw`` kept with probability ``posterior(x)^w`` (<= 1):
    rejection sampling of q(x) p(c | x)^w. Invalid proposals (-1) pass through, so the
    caller still counts them; rejected ones are dropped and not counted."""
    kept: list[np.ndarray] = []
    have = accepted = tried = 0
    for _ in range(GUIDANCE_ROUNDS):
        if have >= n:
            break
        rate = max(accepted / tried, 1e-3) if tried else 0.5  # the observed acceptance
        ask = int(min(max((n - have) / rate * 1.1, 1024), 1 << 22))
        cand = np.asarray(draw(ask))
        ok = cand >= 0
        keep = ~ok
        keep[ok] = rng.random(int(ok.sum())) < posterior(cand[ok]) ** w
        kept.append(cand[keep])
        have += int(keep.sum())
        accepted, tried = accepted + int((keep & ok).sum()), tried + int(ok.sum())
    if have < n:
        raise SamplingError(f"{name}: guidance {w:g} accepted only {have:,} of {n:,} "
                            "proposals; lower the guidance")
    return np.concatenate(kept)[:n]


class Guided(Generator):
    """Another generator's proposals filtered by an ar model's class posterior.

    A proposal x of ``base`` is kept with probability p_ar(c | x)^w (``judge``'s own Bayes
    posterior of the target class, uniform prior; :meth:`ARModel.class_posterior`), so
    samples follow q_base(x) p_ar(c | x)^w. Both are fitted on the training set alone: the
    judge ranks what the base proposes, e.g. a VAE at a wide prior scale (coverage) judged
    by ar (precision; docs/results.md, "The class-1 target"). Fit both first; ``fit``
    here refits neither. The knob is the base's.
    """

    def __init__(self, base: Generator, judge: Judge, guidance: float) -> None:
        if not callable(getattr(judge, "class_posterior", None)):
            raise InputError("the judge of a guided generator is an ar (or gfn) model")
        judge._require_single()
        ok = isinstance(guidance, (int, float)) and not isinstance(guidance, bool)
        if not ok or not np.isfinite(guidance) or guidance <= 0:
            raise InputError(f"guidance must be a positive number, got {guidance!r}")
        self.base, self.judge, self.guidance = base, judge, float(guidance)
        self.name = f"{base.name}|{judge.name}"
        self.conditional = base.conditional
        self._take_knob_of(base)

    @property  # type: ignore[override]
    def space(self) -> CompositionSpace | None:
        """The base's space (the judge is fitted on the same training set)."""
        return self.base.space

    @space.setter
    def space(self, value: CompositionSpace | None) -> None:
        self.base.space = value

    @property
    def knob_value(self) -> float | None:
        return self.base.knob_value

    def check_knob(self, value: float) -> float:  # type: ignore[override]
        return type(self.base).check_knob(value)

    def with_knob(self, value: float) -> Guided:
        return Guided(self.base.with_knob(value), self.judge, self.guidance)

    def set_knob(self, value: float) -> None:
        self.base.set_knob(value)

    def fit(self, train: TrainingSet, target_class: int | None = None) -> Guided:
        return self  # both parts are fitted before they are combined

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        return guided_rejection(
            lambda m: self.base.propose(m, target_class, rng),
            lambda codes: self.judge.class_posterior(codes, target_class),
            self.guidance, n, rng, self.name)
