"""The options of a benchmark or frontier run: one documented dataclass, checked once;
and the rule for the number of samples per evaluation (:func:`default_samples`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elpagen import catalogue, memory
from elpagen.data import check_class
from elpagen.errors import InputError
from elpagen.models.protocols import PROTOCOLS

#: Documented maxima (docs/limits.md): seeds per model, fits per mixture, and fits in all.
MAX_SEEDS = 1_000
MAX_MIXTURE = 1_000
MAX_FITS = 10_000

#: The largest first seed (``--seed``): a 64-bit signed integer, as numpy and torch take.
MAX_SEED = 2**63 - 1

#: Valid samples per evaluation of the method (docs/method.md): the elpasolite's N.
METHOD_SAMPLES = 10_000
#: Elsewhere N is this many times the target class's size: about the elpasolite's
#: class-1 ratio (10,000 / 3,934 = 2.54), so a generator gets the same chance to cover
#: its class on every space ...
SAMPLES_PER_MEMBER = 2.5
#: ... rounded up to a multiple of this, and at least :data:`MIN_SAMPLES`.
SAMPLES_STEP = 10
MIN_SAMPLES = 100


def default_samples(space: Any, class_size: int) -> int:
    """Valid samples per evaluation when none are asked for (``--samples``): the method's
    :data:`METHOD_SAMPLES` on the elpasolite (the default space); on any other space
    :data:`SAMPLES_PER_MEMBER` x ``class_size`` (the target class's compositions in the
    whole space), rounded up to a multiple of :data:`SAMPLES_STEP`, at least
    :data:`MIN_SAMPLES` (the perovskite's class 1, 178 compositions: 450)."""
    from elpagen import spaces

    return METHOD_SAMPLES if space == spaces.DEFAULT else samples_for_class(class_size)


def samples_for_class(class_size: int) -> int:
    """The rule of :func:`default_samples` off the elpasolite: 2.5 x ``class_size``, up to
    a multiple of 10, at least 100."""
    n = math.ceil(SAMPLES_PER_MEMBER * int(class_size) / SAMPLES_STEP) * SAMPLES_STEP
    return max(n, MIN_SAMPLES)


def check_mixture(mixture: Any) -> int:
    """A mixture size K >= 1 (fits sampled as one per seed); one line otherwise."""
    if isinstance(mixture, bool) or not isinstance(mixture, int) or mixture < 1:
        raise InputError(f"mixture size (--mixture) must be a positive integer, got "
                         f"{mixture!r}")
    return mixture


def check_counts(n_seeds: int, mixture: int) -> None:
    """Seeds and mixture size within the documented maxima; one line otherwise (checked
    before a single seed is listed, so ``--seeds 1000000000`` costs nothing)."""
    check_mixture(mixture)
    if n_seeds > MAX_SEEDS:
        raise InputError(f"--seeds {n_seeds:,} is more than the maximum of {MAX_SEEDS:,} fits "
                         "per model (docs/limits.md); run several smaller batches")
    if mixture > MAX_MIXTURE:
        raise InputError(f"--mixture {mixture:,} is more than the maximum of {MAX_MIXTURE:,} "
                         "fits per seed (docs/limits.md)")
    if n_seeds * mixture > MAX_FITS:
        raise InputError(f"--seeds {n_seeds:,} x --mixture {mixture:,} = "
                         f"{n_seeds * mixture:,} fits per model, more than the maximum of "
                         f"{MAX_FITS:,} (docs/limits.md)")


def check_seeds(first: Any, count: Any) -> tuple[int, ...]:
    """The seeds of ``--seed first --seeds count`` (:func:`elpagen.seeds.run_seeds`),
    checked before one is listed (``--seeds 1000000000`` costs nothing): ``first`` 0 ..
    :data:`MAX_SEED`, ``count`` 1 .. :data:`MAX_SEEDS`; one line otherwise."""
    from elpagen.seeds import run_seeds

    for name, v in (("--seed", first), ("--seeds", count)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"{name} must be an integer, got {v!r}")
    if not 0 <= first <= MAX_SEED:
        raise InputError(f"--seed must be a non-negative integer below 2**63, got {first}")
    if count < 1:
        raise InputError(f"--seeds must be 1 or more, got {count}")
    check_counts(count, 1)
    return run_seeds(first, count)


@dataclass(frozen=True)
class RunConfig:
    """What to fit, sample and score in ``elpagen benchmark``, ``run`` and ``frontier``.

    Every field is checked when the config is made (before any work), so a bad argument
    costs nothing.
    """

    models: tuple[str, ...]
    """Catalogue names, in the order of the table (:mod:`elpagen.catalogue`)."""
    target_class: int = 1
    """Energy class 1..10 the samples are asked for."""
    samples: int = 10_000
    """Valid samples per fit (per knob value in a frontier)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Fit seeds; sampling seeds follow from them (:func:`elpagen.generator.sample_seed`)."""
    protocol: str = "fast"
    """Training budgets: ``fast`` (CPU-friendly) or ``paper`` (the published settings)."""
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Settings per model on top of the protocol (``--set``/``--config``)."""
    device: str | None = "auto"
    """Torch device of the torch models: auto, cpu, cuda."""
    mixture: int = 1
    """K > 1: each seed is a mixture of K fits sampled as one (seeds s*K ... s*K+K-1)."""
    grids: Mapping[str, Sequence[float]] = field(default_factory=dict)
    """Frontier only: knob values per model instead of the model's default grid."""
    jobs: int = 1
    """Benchmark only: models fitted at once, one process each (the numbers do not
    depend on it)."""
    progress: bool = False
    """Progress bars while fitting and sampling (off in worker processes)."""
    timeout: float | None = None
    """Seconds sampling may go without a new valid composition, a ``propose`` that never
    returns included (``--timeout``; None: no limit; :meth:`elpagen.Generator.sample`)."""
    rarefaction_draws: int | None = None
    """Valid draws K of the rarefied ``expected`` metrics of a model without a known
    distribution (vae, gan; :func:`elpagen.expected.estimated_metrics`), on a stream of
    their own (``--rarefaction-draws``; None: 100 x N, at most 10^6; 0: none)."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "models", tuple(catalogue.check_models(self.models)))
        set_(self, "target_class", check_class(self.target_class))
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) \
                or self.samples <= 0:
            raise InputError(f"number of samples must be a positive integer, got "
                             f"{self.samples!r}")
        seeds = tuple(self.seeds)
        if not seeds:
            raise InputError("give at least one seed")
        if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED
               for s in seeds):
            raise InputError(f"seeds must be non-negative integers below 2**63, got "
                             f"{list(seeds)[:10]}")
        check_counts(len(seeds), self.mixture)
        set_(self, "seeds", seeds)
        # Before any fit: the samples of one fit (and their proposals) must fit in memory.
        memory.check_fits(memory.sampling_bytes(self.samples),
                          f"{self.samples:,} samples per fit", "ask for fewer samples")
        if self.protocol not in PROTOCOLS:
            raise InputError(f"unknown protocol {self.protocol!r}; use one of "
                             f"{', '.join(PROTOCOLS)}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise InputError(f"jobs must be 1 or more, got {self.jobs!r}")
        t = self.timeout
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))
                              or not 0 < t < float("inf")):
            raise InputError(f"--timeout must be a number of seconds > 0, got {t!r}")
        k = self.rarefaction_draws
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 0):
            raise InputError(f"--rarefaction-draws must be 0 (none) or a number of valid "
                             f"draws, got {k!r}")
        if k:
            memory.check_fits(memory.sampling_bytes(k), f"{k:,} rarefaction draws per fit",
                              "ask for fewer --rarefaction-draws")
        overrides = {self._model_of(m): dict(v) for m, v in self.overrides.items()}
        named_grids = [(self._model_of(m), v) for m, v in self.grids.items()]
        grids = {}
        for name, values in named_grids:
            cls = catalogue.get(name).cls
            grids[name] = tuple(cls.check_knob(v) for v in values)
        set_(self, "grids", grids)
        set_(self, "overrides", overrides)

    def _model_of(self, key: Any) -> str:
        """The model of this run that settings or a grid are given for: its name, or its
        plug-in path or class (resolved here, once); one line for any other model."""
        if key in self.models:
            return key
        try:
            name = catalogue.resolve(key)
        except InputError:
            name = None
        if name not in self.models:
            shown = key if isinstance(key, str) else getattr(key, "__name__", key)
            raise InputError(f"settings or a grid for {shown!r}, which is not among the "
                             f"models of this run ({', '.join(self.models)})")
        return name

    def header(self, ref_classes: Any, train: Any = None) -> dict[str, Any]:
        """The opening keys of a benchmark or frontier result: the space and target of the
        training set ``train`` (where given), the run's class, samples, seeds, protocol and
        mixture, and the class's size and ideal coverage."""
        from elpagen import metrics

        class_size = int(metrics.class_sizes(ref_classes)[self.target_class - 1])
        where = {} if train is None else {"space": train.space.name,
                                          "target": getattr(train, "target", "energy")}
        return {
            **where,
            "target_class": self.target_class,
            "samples": self.samples,
            "seeds": len(self.seeds),
            "seed_values": list(self.seeds),
            "protocol": self.protocol,
            "mixture": self.mixture,
            "class_size": class_size,
            "ideal_coverage": metrics.ideal_coverage(class_size, self.samples),
        }

    def overrides_of(self, model: str) -> dict[str, Any]:
        return dict(self.overrides.get(model, {}))
