"""Running the study: every experiment of docs/method.md section 7, resumable, into one directory.

``elpagen study [--protocol fast|paper] [--seeds K] [--quick] [-o DIR]`` plans a list of
*work units* with stable keys ``experiment/model/c<class>/n<size>/s<seed>``:

* ``class1``: the full training set, target class 1, 10,000 valid samples per fit (metrics,
  per-site distributions, energy histogram of the unique generations, cost of discovery);
* ``curve1``: one fit per model (the first seed), class 1, 250,000 samples (discovery curve);
* ``class5``: class 5, 25 million valid samples per fit (metrics and discovery curve);
* ``size``: training subsets of 1,000 ... 10,000 compositions (A/B twins together), class 1,
  10,000 samples (the full-set point of this study is the ``class1`` experiment);
* ``frontier``: classes 1 and 5, every fit of the full set swept along its sampling knob
  (:mod:`elpagen.harness.frontier`; 10,000 and 25 million samples per knob value), one unit per fit;
* ``campaign``: classes 1 and 10, one discovery campaign per strategy and seed, no fit
  (:mod:`elpagen.study.campaign_unit`: start 1,000, 500 labels a round to 10,000).

A unit samples one fitted generator and scores it with the reference energies (the pure
work of :mod:`elpagen.study.unit`); the runner only schedules units and writes one row to
the results store (:mod:`elpagen.study.store`) as each finishes. Fits are shared: the conditional
models (vae, gan, ar, gfn, and the marginal, random and surrogate baselines) are fitted once on
the full set and serve class1, curve1, class5 and the frontier; rl is fitted per class;
every training size has its own fits. The torch models train the seeds a fit key still
needs as one batched ensemble, then every member is checkpointed
(``DIR/checkpoints/<fit>/s<seed>``, written atomically) before its units run.

Unit of loss: Ctrl-C, a crash or a full disk loses at most the work in progress: either the
one unit being sampled and scored (its fit is checkpointed and is reloaded, not retrained),
or the one ensemble being trained (the seeds of one model/class/training size that were
still missing, trained together). Baselines are not checkpointed (refitting them is
instant). Every stored unit, fit record and checkpoint is kept; rerunning the same command
skips them and resumes. The results do not depend on where a run was interrupted: a
checkpoint holds the member's exact weights, and an ensemble member is the same fit as a
single-seed fit with its seed (up to floating-point rounding of the batched training).

The report (:mod:`elpagen.report`) is rebuilt from the store by ``elpagen study`` after
every run and by ``elpagen report DIR``.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import catalogue, metrics
from elpagen.errors import UserError
from elpagen.harness.provenance import ReferenceProvenance
from elpagen.study import campaign_unit
from elpagen.study.campaign_unit import describe_unit, is_campaign
from elpagen.study.config import (
    make_settings,
    reference_payload,
    resumed_estimate,
    resumed_frontier5_knobs,
)
from elpagen.study.plan import (
    CHECKPOINTS,
    StudyError,
    Unit,
    model_overrides,
    plan,
)
from elpagen.study.progress import TimeLeft
from elpagen.study.unit import (
    FitResult,
    UnitInputs,
    compute_unit,
    fit_key,
    fit_members,
    training_subset,
)

Log = Callable[[str], None]


def checkpoint_dir(directory: Path, fk: str, seed: int) -> Path:
    """Where the member ``seed`` of fit ``fk`` is checkpointed in a study directory."""
    return directory / CHECKPOINTS / fk.replace("/", "_") / f"s{seed}"


def save_checkpoint(directory: Path, fk: str, seed: int, member: Any) -> None:
    """Checkpoint one member (atomic); a full disk is one clear line."""
    from elpagen.study import store as store_mod

    ck = checkpoint_dir(directory, fk, seed)
    try:
        member.save(ck, overwrite=True)
    except (OSError, RuntimeError) as e:  # torch.save reports ENOSPC as either
        if store_mod.is_disk_full(e) or "space left" in str(e).lower():
            raise store_mod.disk_full(ck) from None
        raise


def load_checkpoints(directory: Path, fk: str, seeds: Sequence[int], device: str | None,
                     log: Log) -> dict[int, Any]:
    """The members of ``fk`` with a usable checkpoint (an unusable one is refitted)."""
    from elpagen.models.persistence import ModelLoadError

    out = {}
    for s in seeds:
        ck = checkpoint_dir(directory, fk, s)
        if not (ck / "model.json").is_file():
            continue
        try:
            out[s] = catalogue.load_model(ck, device=device)
            log(f"  {fk} seed {s}: loaded the checkpoint {ck.relative_to(directory)}")
        except ModelLoadError as e:
            log(f"  {fk} seed {s}: unusable checkpoint, refitting ({e})")
    return out


class Runner:
    """Schedules a study's units and writes the store: fits (or reloads) generators on
    demand, runs the pure unit work (:mod:`elpagen.study.unit`), stores each unit at once."""

    def __init__(self, directory: Path, store, train, ref, settings: Mapping[str, Any],
                 overrides: Mapping[str, Mapping[str, Any]], device: str, progress: bool,
                 log: Log) -> None:
        self.dir = directory
        self.store = store
        self.train = train
        self.ref = ref
        self.settings = settings
        self.overrides = overrides
        self.device = device
        self.progress = progress
        self.log = log
        self.fitted: dict[str, dict[int, Any]] = {}
        self.fit_info: dict[tuple[str, int], dict[str, Any]] = {}
        for key, payload in store.fits().items():
            fk, _, seed = key.rpartition("/s")
            self.fit_info[(fk, int(seed))] = payload
        self._subsets: dict[int, Any] = {}
        self.inputs = UnitInputs(
            ref_classes=ref.classes, ref_energies=ref.energies,
            hist_edges=np.asarray(store.artifact("reference")["hist_edges"]),
            n_class1=int(metrics.class_sizes(ref.classes)[0]),
            estimate=settings.get("estimate", "sampled"),
            rarefaction_draws=int(settings.get("rarefaction_draws", 0)),
            frontier5_knobs=settings.get("frontier5_knobs") or {})

    def training_set(self, size: int):
        if size not in self._subsets:
            self._subsets[size] = training_subset(self.train, size)
        return self._subsets[size]

    def generator(self, unit: Unit, seeds_needed: Sequence[int]):
        """The fitted generator of ``unit``; trains the ensemble of every seed in
        ``seeds_needed`` that is neither in memory nor checkpointed."""
        fk = fit_key(unit)
        have = self.fitted.setdefault(fk, {})
        if unit.seed in have:
            return have[unit.seed]
        want = [s for s in seeds_needed if s not in have]
        have.update(load_checkpoints(self.dir, fk, want, self.device, self.log))
        missing = [s for s in seeds_needed if s not in have]
        if unit.seed not in missing and unit.seed not in have:
            missing.append(unit.seed)
        if missing:
            self.record_fit(unit, self.fit(unit, sorted(missing)))
        return have[unit.seed]

    def fit(self, unit: Unit, seeds: list[int]) -> FitResult:
        """Train the missing seeds of ``unit``'s fit (pure work; nothing is stored)."""
        train = self.training_set(unit.train_size)
        if catalogue.get(unit.model).ensemble:
            self.log(f"  {fit_key(unit)}: training seed(s) {', '.join(map(str, seeds))} (one "
                     f"batched ensemble, {self.settings['protocol']} protocol, {len(train):,} "
                     "training compositions)")
        return fit_members(unit, seeds, train, self.settings["protocol"],
                           self.overrides.get(unit.model), self.device, self.progress)

    def record_fit(self, unit: Unit, result: FitResult, where: str = "") -> None:
        """Checkpoint the members of a finished fit (torch ensembles: a crash while sampling
        keeps the training; baselines refit in seconds) and store its record."""
        fk = fit_key(unit)
        seeds = sorted(result.members)
        ensemble = catalogue.get(unit.model).ensemble
        if ensemble:
            for s in seeds:
                save_checkpoint(self.dir, fk, s, result.members[s])
        self.fitted.setdefault(fk, {}).update(result.members)
        for s in seeds:
            self.fit_info[(fk, s)] = result.info
        self.store.put_fits([f"{fk}/s{s}" for s in seeds], result.info)
        if ensemble:
            self.log(f"  {fk}: trained {len(seeds)} seed(s) in "
                     f"{result.info['ensemble_seconds']:.1f} s{where}")

    def run(self, unit: Unit, gen) -> tuple[dict[str, Any], str]:
        """The pure work of one unit with its fitted member ``gen`` (None: a campaign)."""
        if is_campaign(unit):
            return campaign_unit.compute_campaign_unit(
                unit, self.settings["campaign"], self.settings["quick"], self.train,
                self.ref.energies, self.ref.classes)
        return compute_unit(unit, gen, self.training_set(unit.train_size), self.inputs,
                            self.fit_info.get((fit_key(unit), unit.seed)), self.progress)

    def store_unit(self, unit: Unit, payload: dict[str, Any], status: str,
                   seconds: float) -> None:
        self.store.put_unit(
            unit.key, experiment=unit.experiment, model=unit.model,
            target_class=unit.target_class, train_size=unit.train_size, seed=unit.seed,
            payload=payload, seconds=seconds, status=status,
        )


def _load_reference(train, cache_dir: str | None, progress: bool, log: Log):
    from elpagen import reference

    directory = Path(cache_dir).expanduser() if cache_dir else reference.cache_dir()
    path = reference.cache_path(train, reference.DEFAULT_SIGMA, reference.DEFAULT_LAMBDA, directory)
    if not path.exists():
        log(f"reference energies are not cached in {directory}; building them now "
            "(a few minutes on 2 cores, once per cache directory)")
    t0 = time.perf_counter()
    try:
        ref, loaded = reference.load_or_build(train, cache_dir=directory, progress=progress)
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as e:  # noqa: BLE001 - memory, disk, linear algebra: one clear line
        raise StudyError(
            f"could not load or build the reference energies ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no message'}); build them first with "
            f"`elpagen reference --cache-dir {directory}` and rerun the study"
        ) from None
    seconds = time.perf_counter() - t0
    log(f"reference energies {'loaded from cache' if loaded else 'built'} in {seconds:.1f} s "
        f"(held-out MAE {ref.holdout_mae:.4f} eV/atom)")
    return ref, loaded, seconds


# --------------------------------------------------------------------------- the study


def run_study(
    directory: str | os.PathLike,
    *,
    protocol: str = "fast",
    n_seeds: int = 3,
    quick: bool = False,
    data_path: str | None = None,
    verify: bool = True,
    cache_dir: str | None = None,
    device: str = "auto",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
    log: Log | None = None,
    execute: Callable[..., int] | None = None,
    frontier5_samples: int | None = None,
    models: Sequence[str] | None = None,
    strategies: Sequence[str] | None = None,
    train=None,
    reference=None,
    estimate: str | None = None,
    frontier5_knobs: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) the study in ``directory``; returns a summary.

    ``train``: an already built :class:`~elpagen.data.TrainingSet` (of any composition
    space) instead of loading the DFT file (``data_path``, ``verify`` are then unused);
    ``reference``: its :class:`~elpagen.reference.ReferenceEnergies` (same space) instead of
    loading or building the kernel ridge reference (``cache_dir`` unused). The study's
    budget is fitted to the space (:func:`elpagen.study.plan.fit_scale`).

    ``models``: catalogue names (default: every model the catalogue puts in the study).
    ``strategies``: the campaign experiment's (see :func:`make_settings`).

    ``frontier5_samples``: samples per knob value of the class-5 frontier instead of the
    budget's (0: none; see :func:`make_settings`).

    ``estimate``: how the models without a known distribution are measured,
    ``extrapolated`` or ``sampled`` (:data:`elpagen.study.plan.ESTIMATES`); None: the
    resumed store's (a store written before estimates existed: ``sampled``), else
    ``extrapolated`` (:func:`elpagen.study.config.resumed_estimate`).

    ``frontier5_knobs``: ``reduced`` or ``full``, the class-5 frontier grid of vae and gan
    (their classes' ``knob_grid_reduced``); None: the resumed store's (one written
    before: ``full``), else ``reduced`` (:func:`elpagen.study.config.resumed_frontier5_knobs`).

    ``execute(runner, units, todo, done, log) -> new units`` runs the units still to do:
    one after another in this process by default, on a Dask cluster with
    :func:`elpagen.study.distributed.executor`.
    The report is not written here (the runner knows nothing of it): ``elpagen study``
    calls :func:`elpagen.report.write_report` afterwards.
    """
    from elpagen import data
    from elpagen.machine import environment
    from elpagen.models.protocols import PROTOCOLS
    from elpagen.study.store import DirLock, Store, check_directory, store_path

    log = log or (lambda _msg: None)
    if protocol not in PROTOCOLS:
        raise StudyError(f"--protocol must be fast or paper, got {protocol!r}")
    if n_seeds <= 0:
        raise StudyError(f"--seeds must be a positive number of fits per model, got {n_seeds}")
    from elpagen.harness.config import MAX_SEEDS

    if n_seeds > MAX_SEEDS:
        raise StudyError(f"--seeds {n_seeds:,} is more than the maximum of {MAX_SEEDS:,} fits "
                         "per model (docs/limits.md)")
    try:
        models = catalogue.check_models(models if models is not None
                                        else catalogue.names(study=True))
    except UserError as e:
        raise StudyError(str(e)) from None
    configured = [m for m in models if catalogue.get(m).configured]
    unknown = sorted(set(overrides or {}) - set(configured))
    if unknown:
        raise StudyError(f"--set/--config name unknown model(s) {', '.join(unknown)}; "
                         f"use MODEL.KEY=VALUE with MODEL one of {', '.join(configured)}")
    t_start = time.perf_counter()
    d = check_directory(directory)
    with DirLock(d):
        if train is None:
            train = data.load_training_set(data_path, verify=verify)
        if reference is not None:
            ref_space = getattr(reference, "space", None)
            if ref_space is not None and ref_space != train.space:
                raise StudyError(f"the reference energies cover the space {ref_space.name!r}, "
                                 f"the training set the space {train.space.name!r}; give both "
                                 "of one space")
        ov = model_overrides(models, quick, overrides)
        provenance = (None if reference is None
                  else ReferenceProvenance.parameters(reference.sigma, reference.lam))
        stored = None
        if store_path(d).exists():  # resumed: its estimate unless one is asked for
            with Store.open_readonly(d) as old:
                stored = old.settings()
        settings = make_settings(protocol, n_seeds, quick, train.sha256, len(train), ov,
                                 frontier5_samples, models, strategies, space=train.space,
                                 provenance=provenance, target=train.target,
                                 class_sizes=None if reference is None
                                 else reference.class_sizes(),
                                 estimate=resumed_estimate(stored, estimate),
                                 frontier5_knobs=resumed_frontier5_knobs(stored,
                                                                         frontier5_knobs))
        units = plan(settings)
        with Store.open(d, settings) as store:
            done = store.unit_keys()
            todo = [u for u in units if u.key not in done]
            log(f"study in {d}: {len(units)} units planned, {len(units) - len(todo)} already "
                f"stored, {len(todo)} to run ({protocol} protocol{', quick' if quick else ''}, "
                f"{n_seeds} seed(s))")
            # We hold the lock: a run row still open belongs to a process that is gone.
            stale = store.close_stale_runs()
            if stale:
                log(f"run(s) {', '.join(map(str, stale))} ended without recording it (killed?): "
                    "marked interrupted, end time unknown")
            run_id = store.start_run({"environment": environment(), "pid": os.getpid(),
                                      "host": socket.gethostname(), "status": "running",
                                      "new_units": 0})
            new = 0
            status = "interrupted"
            try:
                if todo or store.artifact("reference") is None:
                    if reference is None:
                        ref, loaded, secs = _load_reference(train, cache_dir, progress, log)
                    else:
                        ref, loaded, secs = reference, True, 0.0
                    if store.artifact("reference") is None:
                        store.put_artifact("reference", reference_payload(train, ref, loaded,
                                                                          secs))
                    runner = Runner(d, store, train, ref, settings, ov, device, progress, log)
                    new = (execute or _run_units)(runner, units, todo, done, log)
                status = "finished"
            except KeyboardInterrupt:
                log(f"interrupted: {new} new unit(s) this run are stored in {store.path}; "
                    f"the work in progress is lost; rerun the same command to resume")
                raise
            except BaseException as e:
                status = f"failed: {type(e).__name__}"
                raise
            finally:
                try:
                    store.finish_run(run_id, {"environment": environment(),
                                              "pid": os.getpid(), "host": socket.gethostname(),
                                              "status": status,
                                              "new_units": new,
                                              "seconds": time.perf_counter() - t_start})
                except Exception:  # noqa: BLE001 - a full disk must not hide the first error
                    pass
            n_done = len(store.unit_keys() & {u.key for u in units})
    return {
        "directory": str(d),
        "planned": len(units),
        "done": n_done,
        "new": new,
        "seconds": time.perf_counter() - t_start,
        "complete": n_done == len(units),
    }


def _run_units(runner: Runner, units: list[Unit], todo: list[Unit], done: set[str],
               log: Log) -> int:
    """Run the remaining units in plan order; free fits nobody needs any more. Each
    progress line ends with about how long the rest takes
    (:class:`~elpagen.study.progress.TimeLeft`)."""
    fitting = [u for u in todo if not is_campaign(u)]
    remaining = Counter(fit_key(u) for u in fitting)
    # Seeds of a fit key still to run: trained together as one ensemble when first needed.
    seeds_of: dict[str, set[int]] = {}
    for u in fitting:
        seeds_of.setdefault(fit_key(u), set()).add(u.seed)
    n_total = len(units)
    n_done = n_total - len(todo)
    new = 0
    eta = TimeLeft()
    for i, u in enumerate(todo):
        fk = None if is_campaign(u) else fit_key(u)
        fitted = fk is None or fk in runner.fitted
        t0 = time.perf_counter()
        gen = None if fk is None else runner.generator(u, sorted(seeds_of[fk]))
        t_fit = time.perf_counter() - t0
        payload, status = runner.run(u, gen)
        seconds = time.perf_counter() - t0
        runner.store_unit(u, payload, status, seconds)
        n_done += 1
        new += 1
        remaining[fk] -= 1  # a campaign's fk is None: no fit to free
        if fk is not None and remaining[fk] == 0:
            # The RL policy table alone is ~40 MB per member: drop fits nobody needs.
            runner.fitted.pop(fk, None)
        eta.add(u, None if fitted else t_fit, seconds - t_fit)
        left = eta.describe(todo[i + 1:], runner.fitted)
        log(f"[{n_done}/{n_total}] {u.key}: {describe_unit(u, payload, status)} ({seconds:.1f} s"
            f"{f', fit/load {t_fit:.1f} s' if t_fit > 0.5 else ''}){left}")
    return new
