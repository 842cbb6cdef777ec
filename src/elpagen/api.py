"""The small, stable Python API, re-exported from ``elpagen``.

::

    import elpagen
    train = elpagen.load_training_set()            # $ELPAGEN_DATA or a path
    ref = elpagen.reference_energies(train)        # cached after the first build
    m = elpagen.evaluate([["K", "Na", "Al", "F"]], target_class=1, train=train, reference=ref)
    table = elpagen.benchmark([MyGenerator, "vae"], target_class=1, seeds=3)  # BenchmarkTable
    print(table)                                   # the table `elpagen benchmark` prints

Everything else (models, metrics, the study) lives in its own module; this one only
wires the common path together. It sits above :mod:`elpagen.reference` and
:mod:`elpagen.metrics`, like the experiments layer: models never import it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from elpagen import data, metrics
from elpagen.errors import InputError

if TYPE_CHECKING:  # torch is imported only when reference energies are asked for
    from elpagen import reference
    from elpagen.space import CompositionSpace


def load_training_set(
    path: str | os.PathLike | None = None, *, verify: bool = True,
    space: str | CompositionSpace | None = None, target: str | None = None,
) -> data.TrainingSet:
    """The augmented DFT training set from ``path`` or ``$ELPAGEN_DATA`` (the elpasolite's:
    21,112 compositions).

    ``verify=False`` accepts a well-formed DFT file of your own instead of the published one.
    ``space``: a built-in space's name, a space file's path (``.toml``) or a
    :class:`~elpagen.space.CompositionSpace` (default :data:`elpagen.spaces.DEFAULT`); the
    file's rows are compositions of it. A table space (the perovskite) gives its seeded
    training subset (``elpagen --space``). ``target``: ``energy`` (default) or ``stable``
    (a table's energy above the convex hull; class 1: E_hull <= 0.025 eV/atom).
    """
    from elpagen import spaces, truth

    if _by_truth(space, target):
        return truth.training_set(truth.resolve(_space_arg(space), target), path,
                                  verify=verify)
    return data.load_training_set(path, verify=verify, space=spaces.get(space))


def _space_arg(space: str | os.PathLike | CompositionSpace | None):
    return space.name if hasattr(space, "name") and hasattr(space, "fingerprint") else space


def _by_truth(space: str | os.PathLike | CompositionSpace | None, target: str | None) -> bool:
    """Whether a space's data come from :mod:`elpagen.truth` (a table or a space file, or
    a target other than the formation energy); the elpasolite's DFT file and a space
    object of your own keep the DFT-file path."""
    from elpagen import spaces

    if target not in (None, "energy"):
        return True
    if space is None:
        return False
    name = str(_space_arg(space))
    if name in spaces.names():
        return name != spaces.DEFAULT.name
    return isinstance(space, (str, os.PathLike))  # a space file


def reference_energies(
    train: data.TrainingSet | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    rebuild: bool = False,
    progress: bool = False,
) -> reference.ReferenceEnergies:
    """Reference energies and classes of every composition of the training set's space
    (built once, then cached).

    ``train`` defaults to :func:`load_training_set`; the cache lives in ``cache_dir``,
    else ``$ELPAGEN_CACHE``, else the user cache directory.
    """
    from elpagen import reference, truth

    train = train if train is not None else load_training_set()
    if _by_truth(train.space, train.target):  # a table: the table itself
        t = truth.resolve(train.space, train.target)
        ref, _ = truth.reference_energies(t, train, cache_dir=cache_dir, rebuild=rebuild,
                                          progress=progress)
        return ref
    ref, _ = reference.load_or_build(train, cache_dir=cache_dir, rebuild=rebuild, progress=progress)
    return ref


def to_codes(compositions: np.ndarray | Sequence,
             space: CompositionSpace | None = None) -> tuple[np.ndarray, int]:
    """Composition codes from int codes or (n, n_sites) element symbols of ``space``
    (default :data:`elpagen.spaces.DEFAULT`); (valid codes, n given).

    Rows that break the space's validity rule (a repeated element) are not compositions
    of the space: they are dropped and count as invalid draws (as in a samples file). An
    unknown symbol is an error.
    """
    if space is None:
        from elpagen import spaces

        space = spaces.DEFAULT
    arr = np.asarray(compositions)
    if arr.size == 0:
        return np.zeros(0, dtype=space.code_dtype), 0
    if np.issubdtype(arr.dtype, np.integer):
        codes = arr.ravel()
        if codes.min() < 0 or codes.max() >= space.n_grid:
            raise InputError(f"composition codes must lie in 0..{space.n_grid - 1}")
        valid = space.is_valid(space.decode(codes))
        return codes[valid].astype(space.code_dtype), len(codes)
    if arr.ndim != 2 or arr.shape[1] != space.n_sites:
        raise InputError(
            f"give composition codes or rows of {space.n_sites} element symbols "
            f"({', '.join(space.site_names)}), got an array of shape {arr.shape}"
        )
    el = space.symbols_to_indices(arr)
    valid = space.is_valid(el)
    return space.encode(el[valid]).astype(space.code_dtype), len(el)


def evaluate(
    compositions: np.ndarray | Sequence,
    target_class: int = 1,
    *,
    train: data.TrainingSet | None = None,
    reference: reference.ReferenceEnergies | None = None,
) -> dict[str, Any]:
    """Every metric of a sample for ``target_class``: precision, coverage, JS distance...

    ``compositions``: int codes, or rows of one element symbol per site of the space
    (``[A, B, C, D]`` for the elpasolite); repeats count (as a generator's draws do).
    ``train`` and ``reference`` are loaded when not given (pass them when evaluating many
    samples); the compositions are read in their space (the reference's, else the
    training set's, else :data:`elpagen.spaces.DEFAULT`).
    """
    target_class = data.check_class(target_class)
    space = _space_of(train, reference)
    codes, n_given = to_codes(compositions, space)
    if len(codes) == 0:
        raise InputError(f"no valid compositions among {n_given} given")
    train = train if train is not None else load_training_set(space=space)
    reference = reference if reference is not None else reference_energies(train)
    return metrics.evaluate(codes, target_class, reference.classes, train.codes,
                            n_drawn=n_given, space=train.space)


def _space_of(train: data.TrainingSet | None,
              reference: reference.ReferenceEnergies | None) -> CompositionSpace:
    """The space of the reference or training set given (default: the default space);
    both given: the same space, or an error."""
    from elpagen import spaces

    ref_space = getattr(reference, "space", None) if reference is not None else None
    train_space = train.space if train is not None else None
    if ref_space is not None and train_space is not None and ref_space != train_space:
        raise InputError(f"the reference energies cover the space {ref_space.name!r}, the "
                         f"training set the space {train_space.name!r}; give both of one space")
    return ref_space or train_space or spaces.DEFAULT


@dataclass(frozen=True)
class BenchmarkTable:
    """The result of :func:`benchmark`: ``str(table)`` is the table ``elpagen benchmark``
    prints, ``table.result`` the whole result (what ``elpagen benchmark -o DIR`` writes:
    mean and std of every metric, timings and per-seed metrics of every model)."""

    result: dict[str, Any]

    @property
    def models(self) -> tuple[str, ...]:
        """Catalogue names, in the order asked for (the keys of :attr:`means`)."""
        return tuple(self.result["models"])

    @property
    def means(self) -> Mapping[str, Mapping[str, float]]:
        """Mean over seeds of every metric, per model: ``table.means["vae"]["precision"]``."""
        return {name: {k: v["mean"] for k, v in m.items()
                       if isinstance(v, Mapping) and "mean" in v}
                for name, m in self.result["models"].items()}

    def __str__(self) -> str:
        from elpagen.harness.benchmark import benchmark_table

        return benchmark_table(self.result)

    def to_markdown(self) -> str:
        """The same numbers as a Markdown table (mean ± std over seeds)."""
        from elpagen import catalogue, metric_specs
        from elpagen.harness.frontier import optional_columns, run_label

        r = self.result
        cols = metric_specs.columns(metric_specs.View.MARKDOWN) + optional_columns(
            r, r["models"].values())
        label = run_label(r)
        lines = [f"{label[0].upper() + label[1:]}, {r['samples']:,} valid samples, "
                 f"{r['seeds']} seed(s), {r['protocol']} protocol.", "",
                 "| model | " + " | ".join(c.title for c in cols) + " | time [s] |",
                 "|---|" + "---:|" * (len(cols) + 1)]
        for name, m in r["models"].items():
            cells = [f"{m[c]['mean']:.{c.digits}f} ± {m[c]['std']:.{c.digits}f}" for c in cols]
            lines.append(f"| {catalogue.label(name)} | " + " | ".join(cells)
                         + f" | {m['seconds']:.1f} |")
        lines += ["", f"Ideal coverage (uniform draws from the class): "
                      f"{r['ideal_coverage']:.5f}."]
        return "\n".join(lines)

    _repr_markdown_ = to_markdown  # notebooks show the Markdown table

    def to_json(self, indent: int | None = 2) -> str:
        """The whole result as JSON (the file ``elpagen benchmark -o DIR`` writes)."""
        from elpagen import io

        return io.dumps(self.result, indent=indent)


def benchmark(
    models: Sequence[str | type],
    target_class: int = 1,
    seeds: int | Sequence[int] = 3,
    samples: int | None = None,
    protocol: str = "fast",
    *,
    train: data.TrainingSet | None = None,
    reference: reference.ReferenceEnergies | None = None,
    jobs: int = 1,
    mixture: int = 1,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    device: str | None = "auto",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> BenchmarkTable:
    """Fit every model once per seed, draw ``samples`` valid compositions of
    ``target_class`` from each fit and score them, as ``elpagen benchmark`` does
    (``samples`` None: the rule of :func:`elpagen.harness.config.default_samples`, the
    method's 10,000 on the elpasolite).

    ``models``: catalogue names (``"vae"``), plug-in paths (``"mypkg.gen:MyGenerator"``) or
    generator classes (:class:`elpagen.Generator` subclasses, registered on the fly under
    their ``name``; docs/design.md, "Plug-in generators"). ``seeds``: a number K (seeds
    0..K-1) or the seeds themselves. ``jobs`` > 1 fits that many models at once in worker
    processes (a class must then be importable by its module). ``overrides``: settings per
    model on top of ``protocol``. ``train`` and ``reference`` are loaded when not given.
    A generator of your own that raises, or returns anything but n int codes, stops the
    run with a one-line :class:`~elpagen.generator.GeneratorError` naming it.
    """
    from elpagen.harness.benchmark import run_benchmark
    from elpagen.harness.config import METHOD_SAMPLES, RunConfig, default_samples
    from elpagen.harness.provenance import ReferenceProvenance
    from elpagen.seeds import run_seeds

    if isinstance(models, (str, type)):
        models = [models]
    if isinstance(seeds, bool):
        raise InputError(f"seeds must be a number of seeds or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise InputError(f"give at least one seed, got seeds={seeds}")
        seeds = run_seeds(0, seeds)
    # Every argument is checked there, once: the models resolved (plug-in paths, classes),
    # the class, seeds, mixture and the models the settings are for.
    config = RunConfig(models=tuple(models), target_class=target_class,
                       samples=METHOD_SAMPLES if samples is None else samples,
                       seeds=tuple(seeds), protocol=protocol, overrides=dict(overrides or {}),
                       device=device, mixture=mixture, jobs=jobs, progress=progress)
    if train is None:
        train = load_training_set(space=_space_of(None, reference))
    reference = reference if reference is not None else reference_energies(train)
    _space_of(train, reference)  # one space
    if samples is None:
        n_class = int(reference.class_sizes()[config.target_class - 1])
        config = dataclasses.replace(config, samples=default_samples(train.space, n_class))
    result = run_benchmark(train, reference.classes, config, log=log)
    result["oracle"] = ReferenceProvenance.of(reference).to_dict()
    return BenchmarkTable(result)
