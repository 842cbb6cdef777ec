"""One trial: fit -> sample -> score, for one model, one seed, one target class and one
sampling setting.

The benchmark, the frontier, each unit of the study and each trial of the search are
loops over :func:`fit` and :func:`run_trial`. Scoring is passed in (a :data:`Scorer`):
against the reference energies (:func:`reference_scorer`, the benchmark, frontier and
study) or against the training set alone (the search's objectives), so this module never
reads the reference energies itself.

A generator of your own (not part of elpagen: a registered class, a plug-in) that raises
in ``fit`` or ``propose`` stops the run with one line naming it and what it raised
(:class:`~elpagen.generator.GeneratorError`); the same exception in a built-in model is a
bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elpagen import catalogue, metrics
from elpagen.data import TrainingSet
from elpagen.errors import InputError, UserError
from elpagen.generator import Generator, GeneratorError, Mixture, Samples, sample_seed
from elpagen.space import CompositionSpace

#: Scores one set of samples: a dict of metrics.
Scorer = Callable[[Samples], dict[str, Any]]
#: The exact expected metrics of N valid draws from a generator (None: no known
#: distribution); see :mod:`elpagen.expected`.
Expectation = Callable[[Generator, int], "dict[str, float] | None"]


def check_mixture(mixture: Any) -> int:
    """A mixture size K >= 1 (fits sampled as one per seed); one line otherwise."""
    if isinstance(mixture, bool) or not isinstance(mixture, int) or mixture < 1:
        raise InputError(f"mixture size (--mixture) must be a positive integer, got "
                         f"{mixture!r}")
    return mixture


@contextlib.contextmanager
def user_code(model: str, stage: str, builtin: bool | None = None) -> Iterator[None]:
    """Run a generator's own code (``stage``: fit, propose...): an exception a generator of
    your own raises becomes one line, ``generator 'mine' raised ValueError in fit: ...``
    (a :class:`~elpagen.generator.GeneratorError`). Built-in models (``builtin``, default:
    the catalogue's record of ``model``; a name it does not know counts as built in) and
    errors already meant for the user (:class:`~elpagen.errors.UserError`, MemoryError)
    pass through unchanged."""
    if builtin is None:
        builtin = catalogue.is_builtin(model)
    if builtin:
        yield
        return
    try:
        yield
    except (UserError, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: any exception, one line
        text = str(e).strip()
        first = text.splitlines()[0] if text else ""
        raise GeneratorError(f"generator {model!r} raised {type(e).__name__} in {stage}"
                             + (f": {first}" if first else "")) from e


def _fitted(out: Any, gen: Generator) -> Generator:
    """What ``fit`` returned, or the generator itself when ``fit`` forgot ``return self``."""
    return out if isinstance(out, Generator) else gen


def fit(
    model: str,
    train: TrainingSet,
    seeds: Sequence[int],
    target_class: int | None,
    *,
    protocol: str = "fast",
    overrides: Mapping[str, Any] | None = None,
    device: str | None = "auto",
    progress: bool = False,
    mixture: int = 1,
) -> list[Generator]:
    """One fitted generator per seed; torch models train all seeds as one batched ensemble.

    With ``mixture`` = K > 1 each seed s stands for a mixture of fits: the K fits with
    seeds s*K ... s*K + K - 1, sampled as one :class:`~elpagen.generator.Mixture`. (A
    *batched ensemble* is something else: the K seeds a torch model trains at once.)
    ``overrides`` are settings on top of the ``protocol`` (configured models only).
    """
    spec = catalogue.get(model)
    model = spec.name  # a plug-in given by its import path: its catalogue name
    check_mixture(mixture)
    fit_seeds = [s * mixture + j for s in seeds for j in range(mixture)]
    cls = spec.cls
    kw = dict(overrides or {})
    builtin = spec.builtin
    if spec.ensemble:
        with user_code(model, "fit", builtin):
            gens: list[Generator] = cls.fit_many(
                train, fit_seeds, target_class, protocol=spec.protocol_for(protocol),
                device=device, progress=progress, **kw,
            )
    else:
        if kw and not spec.configured:
            raise InputError(f"{model} has no settings; got {', '.join(kw)}")
        if spec.configured:
            kw["protocol"] = spec.protocol_for(protocol)
        gens = []
        for s in fit_seeds:
            with user_code(model, f"{cls.__name__}(seed={s})", builtin):
                g = cls(seed=s, **kw)
            with user_code(model, "fit", builtin):
                gens.append(_fitted(g.fit(train, target_class), g))
    if mixture == 1:
        return gens
    return [Mixture(gens[i : i + mixture]) for i in range(0, len(gens), mixture)]


@dataclass
class TrialResult:
    """The outcome of one trial: the metrics of one fit's samples at one knob value."""

    model: str
    seed: int
    """The fit's seed (sampling used :func:`elpagen.generator.sample_seed` of it, or the
    seed the caller gave)."""
    target_class: int
    knob: float | None
    """The sampling knob's value (None: the model has no knob)."""
    metrics: dict[str, Any]
    n_drawn: int
    """Proposals drawn, invalid ones included."""
    sample_seconds: float
    score_seconds: float
    codes: np.ndarray | None = field(default=None, repr=False)
    """The samples themselves, when the caller asked to keep them."""
    expected: dict[str, float] | None = None
    """The exact expectations of the metrics (:mod:`elpagen.expected`), when the caller
    asked for them and the generator's distribution is known."""


def reference_scorer(ref_classes: np.ndarray, train_codes: np.ndarray,
                     target_class: int, space: CompositionSpace) -> Scorer:
    """Every metric of :func:`elpagen.metrics.evaluate` against the reference classes
    (over the grid of ``space``, the training set's)."""

    def score(s: Samples) -> dict[str, Any]:
        return metrics.evaluate(s.codes, target_class, ref_classes, train_codes,
                                n_drawn=s.n_drawn, space=space)

    return score


def reference_expectation(ref_classes: np.ndarray, target_class: int,
                          space: CompositionSpace) -> Expectation:
    """Exact expected metrics against the reference classes, for generators whose
    distribution is known (:mod:`elpagen.expected`); None for the others, and for a
    distribution with no mass on any composition (a regressor that places nothing in the
    class)."""
    from elpagen import expected

    def expect(gen: Generator, n: int) -> dict[str, float] | None:
        p = expected.distribution(gen, target_class)
        if p is None or not p[ref_classes > 0].any():
            return None
        return expected.expected_metrics(p, target_class, ref_classes, n, space=space)

    return expect


def run_trial(
    gen: Generator,
    model: str,
    target_class: int,
    n_samples: int,
    seed: int,
    score: Scorer,
    *,
    knob: float | None = None,
    sampling_seed: int | None = None,
    progress: bool = False,
    keep_codes: bool = False,
    expect: Expectation | None = None,
) -> TrialResult:
    """Sample ``n_samples`` valid compositions from the fitted ``gen`` (at ``knob`` if
    given) and score them. The sampling seed is ``sample_seed(seed)`` unless given, one
    rule for every caller so their numbers agree. :class:`~elpagen.generator.SamplingError`
    propagates (the study records it, the benchmark stops on it)."""
    builtin = catalogue.is_builtin(model)
    with user_code(model, f"with_knob({knob})", builtin):
        g = gen if knob is None else gen.with_knob(knob)
    t0 = time.perf_counter()
    with user_code(model, "propose", builtin):
        s = g.sample(n_samples, target_class,
                     seed=sample_seed(seed) if sampling_seed is None else sampling_seed,
                     progress=progress)
    t1 = time.perf_counter()
    m = score(s)
    with user_code(model, "composition_distribution", builtin):  # a plug-in's own method
        exp = expect(g, n_samples) if expect is not None else None
    return TrialResult(model, int(seed), target_class, knob, m, s.n_drawn, t1 - t0,
                       time.perf_counter() - t1, s.codes if keep_codes else None, exp)
