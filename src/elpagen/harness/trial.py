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
from elpagen.generator import Generator, GeneratorError, Mixture, Samples
from elpagen.models.plugins import first_line, quiet_stdout
from elpagen.seeds import fit_seeds, sample_seed
from elpagen.space import CompositionSpace

#: Scores one set of samples: a dict of metrics.
Scorer = Callable[[Samples], dict[str, Any]]
#: The exact expected metrics of N valid draws from a generator (None: no known
#: distribution); see :mod:`elpagen.expected`.
Expectation = Callable[[Generator, int], "dict[str, float] | None"]


@contextlib.contextmanager
def user_code(model: str, stage: str, builtin: bool | None = None, *,
              what: str = "generator",
              error: type[UserError] = GeneratorError) -> Iterator[None]:
    """Run code of your own (a generator's, ``what``: a campaign strategy's; ``stage``:
    fit, propose...): what it raises becomes one line, ``generator 'mine' raised ValueError
    in fit: ...`` (an ``error``, by default :class:`~elpagen.generator.GeneratorError`), its
    ``sys.exit`` and ``MemoryError`` too; what it prints goes to stderr (stdout is the
    command's output: ``--json``, ``sample -o -``). Built-in code (``builtin``, default: the
    model catalogue's record of ``model``; a name it does not know counts as built in) and
    errors already meant for the user (:class:`~elpagen.errors.UserError`) pass through
    unchanged."""
    if builtin is None:
        builtin = catalogue.is_builtin(model)
    if builtin:
        yield
        return
    who = f"{what} {model!r}"
    try:
        with quiet_stdout():
            yield
    except UserError:
        raise
    except SystemExit as e:  # never end the run silently (sys.exit(0) would exit 0)
        raise error(f"{who} called sys.exit({e.code!r}) in {stage}; a {what} must return "
                    "or raise, not exit") from None
    except MemoryError as e:  # as a bare MemoryError it would read as elpagen's bug
        raise error(f"{who} ran out of memory in {stage} (MemoryError"
                    + (f": {first_line(e)}" if first_line(e) else "")
                    + "); give it less to do or run it on a larger machine") from None
    except Exception as e:  # noqa: BLE001 - the user's code: any exception, one line
        first = first_line(e)
        if isinstance(e, NotImplementedError) and not first:  # the base class's method
            raise error(f"{who} does not implement {stage} (it raised NotImplementedError)") \
                from e
        raise error(f"{who} raised {type(e).__name__} in {stage}"
                    + (f": {first}" if first else "")) from e


def _fitted(out: Any, gen: Generator) -> Generator:
    """What ``fit`` returned, or the generator itself when ``fit`` forgot ``return self``."""
    return out if isinstance(out, Generator) else gen


def fit_one(
    model: str,
    train: TrainingSet,
    seed: int | Sequence[int],
    target_class: int | None,
    *,
    protocol: str = "fast",
    overrides: Mapping[str, Any] | None = None,
    config: Any | None = None,
    device: str | None = "auto",
    progress: bool = False,
) -> Generator:
    """The one fit of elpagen: catalogue model ``model`` (a name or a plug-in's path) made
    with ``seed`` and fitted on ``train`` for ``target_class`` (as given: None fits a
    conditional model for no class in particular). The harness (:func:`fit`), ``elpagen
    train`` and the campaign's generator strategies all fit through it.

    ``seed``: one seed, or (torch models) a list of seeds trained as one batched ensemble,
    returned whole (``.members()`` splits it). Settings: the model's ``protocol`` with
    ``overrides`` on top (configured models only; a model without settings refuses them),
    or ``config``, settings already resolved (torch models); torch models train on
    ``device``. A generator of your own that raises in its constructor or ``fit`` stops
    with one line naming it (:func:`user_code`). The arguments are the caller's, checked
    at its boundary (:class:`~elpagen.harness.config.RunConfig`, the CLI, the campaign's
    config), not here.
    """
    spec = catalogue.get(model)
    model, cls, builtin = spec.name, spec.cls, spec.builtin
    kw = dict(overrides or {})
    if kw and not spec.configured:
        raise InputError(f"{model} has no settings; got {', '.join(kw)}")
    if spec.ensemble:
        if config is not None:
            kw["config"] = config
        kw.update(device=device, progress=progress)
    if spec.configured:
        kw["protocol"] = spec.protocol_for(protocol)
    with user_code(model, f"{cls.__name__}(seed={seed})", builtin):
        g = cls(seed=seed, **kw)
    with user_code(model, "fit", builtin):
        return _fitted(g.fit(train, target_class), g)


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
    """One fitted generator per seed (:func:`fit_one`); torch models train all seeds as
    one batched ensemble.

    With ``mixture`` = K > 1 each seed s stands for a mixture of fits: the K fits with
    seeds s*K ... s*K + K - 1 (:func:`elpagen.seeds.member_seeds`), sampled as one
    :class:`~elpagen.generator.Mixture`. (A *batched ensemble* is something else: the K
    seeds a torch model trains at once.) ``overrides`` are settings on top of the
    ``protocol`` (configured models only). ``mixture`` is checked by the caller
    (:func:`elpagen.harness.config.check_mixture`, at its boundary).
    """
    assert mixture >= 1, mixture
    spec = catalogue.get(model)
    every = fit_seeds(seeds, mixture)
    opts: dict[str, Any] = dict(protocol=protocol, overrides=overrides, device=device,
                                progress=progress)
    gens: list[Generator]
    if spec.ensemble:
        gens = fit_one(spec.name, train, every, target_class, **opts).members()
    else:
        gens = [fit_one(spec.name, train, s, target_class, **opts) for s in every]
    if mixture == 1:
        return gens
    return [Mixture(gens[i : i + mixture]) for i in range(0, len(gens), mixture)]


@dataclass
class TrialResult:
    """The outcome of one trial: the metrics of one fit's samples at one knob value."""

    model: str
    seed: int
    """The fit's seed (sampling used :func:`elpagen.seeds.sample_seed` of it, or the
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
    timeout: float | None = None,
) -> TrialResult:
    """Sample ``n_samples`` valid compositions from the fitted ``gen`` (at ``knob`` if
    given) and score them. The sampling seed is ``sample_seed(seed)`` unless given, one
    rule for every caller so their numbers agree. ``timeout``: seconds sampling may go
    without a new valid composition (``--timeout``; None: no limit).
    :class:`~elpagen.generator.SamplingError` propagates (the study records it, the
    benchmark stops on it)."""
    builtin = catalogue.is_builtin(model)
    with user_code(model, f"with_knob({knob})", builtin):
        g = gen if knob is None else gen.with_knob(knob)
    t0 = time.perf_counter()
    limit = {} if timeout is None else {"timeout": timeout}  # a sample() of old keeps working
    with user_code(model, "propose", builtin):
        s = g.sample(n_samples, target_class,
                     seed=sample_seed(seed) if sampling_seed is None else sampling_seed,
                     progress=progress, **limit)
    t1 = time.perf_counter()
    m = score(s)
    with user_code(model, "composition_distribution", builtin):  # a plug-in's own method
        exp = expect(g, n_samples) if expect is not None else None
    return TrialResult(model, int(seed), target_class, knob, m, s.n_drawn, t1 - t0,
                       time.perf_counter() - t1, s.codes if keep_codes else None, exp)
