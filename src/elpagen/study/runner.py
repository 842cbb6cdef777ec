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
  (:mod:`elpagen.frontier`; 10,000 and 25 million samples per knob value), one unit per fit.

A unit samples one fitted generator, scores it with the reference energies and writes one
row to the results store (:mod:`elpagen.study.store`) at once. Fits are shared: the conditional
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

from elpagen import metrics, space
from elpagen.errors import UserError
from elpagen.study.plan import (
    CHECKPOINTS,
    CONFIGURED,
    CURVE_POINTS,
    HIST_BIN_WIDTH,
    MODELS,
    SUBSET_SEED,
    Experiment,
    StudyError,
    Unit,
    cost_of_discovery,
    make_settings,
    model_overrides,
    plan,
    training_spent,
)

Log = Callable[[str], None]


class Runner:
    """Fits (or reloads) generators on demand and runs units, storing each at once."""

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
        stored_fits = store.fits()
        for key, payload in stored_fits.items():
            fit_key, _, seed = key.rpartition("/s")
            self.fit_info[(fit_key, int(seed))] = payload
        self._subsets: dict[int, Any] = {}
        self.n_class1 = int(metrics.class_sizes(ref.classes)[0])
        self.edges = np.asarray(store.artifact("reference")["hist_edges"])

    def training_set(self, size: int):
        if not size:
            return self.train
        if size not in self._subsets:
            self._subsets[size] = self.train.subset(size, seed=SUBSET_SEED)
        return self._subsets[size]

    def _checkpoint(self, fit_key: str, seed: int) -> Path:
        return self.dir / CHECKPOINTS / fit_key.replace("/", "_") / f"s{seed}"

    def generator(self, unit: Unit, seeds_needed: Sequence[int]):
        """The fitted generator of ``unit``; trains the ensemble of every seed in
        ``seeds_needed`` that is neither in memory nor checkpointed."""
        from elpagen.models.base import ModelLoadError
        from elpagen.registry import load_model

        fk = unit.fit_key
        have = self.fitted.setdefault(fk, {})
        if unit.seed in have:
            return have[unit.seed]
        for s in seeds_needed:
            ck = self._checkpoint(fk, s)
            if s in have or not (ck / "model.json").is_file():
                continue
            try:
                have[s] = load_model(ck, device=self.device)
                self.log(f"  {fk} seed {s}: loaded the checkpoint {ck.relative_to(self.dir)}")
            except ModelLoadError as e:
                self.log(f"  {fk} seed {s}: unusable checkpoint, refitting ({e})")
        missing = [s for s in seeds_needed if s not in have]
        if unit.seed not in missing and unit.seed not in have:
            missing.append(unit.seed)
        if missing:
            self._fit(unit, sorted(missing), have)
        return have[unit.seed]

    def _fit(self, unit: Unit, seeds: list[int], have: dict[int, Any]) -> None:
        from elpagen import experiments

        fk = unit.fit_key
        train = self.training_set(unit.train_size)
        target = unit.target_class
        # The torch ensembles (checkpointed); the surrogate has a recorded config but is a
        # baseline, refitted in seconds.
        torch_model = unit.model in self.settings["model_configs"] and unit.model != "surrogate"
        if torch_model:
            self.log(f"  {fk}: training seed(s) {', '.join(map(str, seeds))} (one batched "
                     f"ensemble, {self.settings['protocol']} protocol, {len(train):,} "
                     "training compositions)")
        t0 = time.perf_counter()
        gens = experiments.fit_generators(
            unit.model, train, seeds, target, protocol=self.settings["protocol"],
            overrides=self.overrides.get(unit.model), device=self.device, progress=self.progress,
        )
        seconds = time.perf_counter() - t0
        for s, g in zip(seeds, gens, strict=True):
            if torch_model:
                # Checkpoint before any unit runs: a crash while sampling keeps the training.
                try:
                    g.save(self._checkpoint(fk, s), overwrite=True)
                except (OSError, RuntimeError) as e:  # torch.save reports ENOSPC as either
                    from elpagen.study import store as store_mod

                    if store_mod.is_disk_full(e) or "space left" in str(e).lower():
                        raise store_mod.disk_full(self._checkpoint(fk, s)) from None
                    raise
            have[s] = g
        info = {"model": unit.model, "ensemble_seeds": seeds, "ensemble_seconds": seconds,
                "seconds_per_member": seconds / len(seeds), "n_train": len(train),
                "train_size": unit.train_size, "target_class": target if not
                getattr(gens[0], "conditional", True) else None}
        for s in seeds:
            self.fit_info[(fk, s)] = info
        self.store.put_fits([f"{fk}/s{s}" for s in seeds], info)
        if torch_model:
            self.log(f"  {fk}: trained {len(seeds)} seed(s) in {seconds:.1f} s")

    def run(self, unit: Unit, gen) -> tuple[dict[str, Any], str]:
        """Sample, score and describe one unit; returns (payload, status)."""
        from elpagen.generator import SamplingError

        train = self.training_set(unit.train_size)
        ref = self.ref
        if unit.experiment == Experiment.FRONTIER:
            return self.run_frontier(unit, gen, train)
        t0 = time.perf_counter()
        try:
            s = gen.sample(unit.n_samples, unit.target_class, seed=unit.sample_seed,
                           progress=self.progress)
        except SamplingError as e:
            # Deterministic for this fit and seed: record it rather than retry forever.
            return {"error": str(e).splitlines()[0], "fit_key": unit.fit_key}, "failed"
        t1 = time.perf_counter()
        codes = s.codes
        m = metrics.evaluate(codes, unit.target_class, ref.classes, train.codes,
                             n_drawn=s.n_drawn)
        from elpagen import smact_screen  # SMACT pass fractions: only with the materials

        m.update(smact_screen.fractions_if_cached(codes))  # extra and its cached table
        fit = self.fit_info.get((unit.fit_key, unit.seed), {})
        payload: dict[str, Any] = {
            "metrics": m,
            "fit_key": unit.fit_key,
            "n_train": len(train),
            "sample_seed": unit.sample_seed,
            "fit_seconds": fit.get("seconds_per_member"),
            "fit_ensemble_seeds": fit.get("ensemble_seeds"),
            "sample_seconds": t1 - t0,
        }
        if unit.experiment == Experiment.CLASS1:
            payload["site_distribution"] = np.round(metrics.site_distributions(codes), 6)
            uniq = metrics.unique_energies(codes, ref.energies)
            payload["energy_hist"] = np.histogram(uniq, bins=self.edges)[0]
            payload["cost"] = cost_of_discovery(m["n_unique"], m["n_unique_in_class"],
                                                self.n_class1,
                                                n_train=training_spent(unit.model, len(train)))
        if unit.experiment in (Experiment.CURVE1, Experiment.CLASS5):
            curve = metrics.discovery_curve(
                codes, ref.classes, train.codes,
                points=metrics.default_points(len(codes), CURVE_POINTS),
            )
            payload["curve"] = {k: np.asarray(v).tolist() for k, v in curve.items()}
        payload["eval_seconds"] = time.perf_counter() - t1
        return payload, "ok"

    def run_frontier(self, unit: Unit, gen, train) -> tuple[dict[str, Any], str]:
        """One fit swept along its knob grid (:func:`elpagen.frontier.sweep`, the same
        sampling seed at every value, so the fitted value repeats the class-1/class-5 unit
        when the sample counts agree); ``metrics`` holds the point at the fitted value."""
        from elpagen import frontier
        from elpagen.generator import SamplingError

        t0 = time.perf_counter()
        values = frontier.knob_values(gen)
        try:
            points = frontier.sweep(gen, values, unit.target_class, unit.n_samples, unit.seed,
                                    self.ref.classes, train.codes)
        except SamplingError as e:
            return {"error": str(e).splitlines()[0], "fit_key": unit.fit_key}, "failed"
        default = next(p for p in points if p["knob"] == gen.knob_value)
        fit = self.fit_info.get((unit.fit_key, unit.seed), {})
        payload = {
            "knob": gen.knob,
            "default": gen.knob_value,
            "points": points,
            "hypervolume": metrics.hypervolume([(p["precision"], p["coverage"])
                                                for p in points]),
            "metrics": {"n_valid": unit.n_samples, **default},
            "fit_key": unit.fit_key,
            "n_train": len(train),
            "sample_seed": unit.sample_seed,
            "fit_seconds": fit.get("seconds_per_member"),
            "sample_seconds": time.perf_counter() - t0,
        }
        return payload, "ok"


# --------------------------------------------------------------------------- reference


def describe_unit(payload: Mapping[str, Any], status: str) -> str:
    """The progress-line summary of one finished unit (serial and distributed runs)."""
    if status != "ok":
        return f"FAILED: {payload['error']}"
    m = payload["metrics"]
    return f"{m['n_valid']:,} samples, precision {m['precision']:.3f}"


def reference_payload(train, ref, loaded: bool, seconds: float) -> dict[str, Any]:
    """Everything the report needs from the training set and the reference energies."""
    finite = ref.energies[np.isfinite(ref.energies)]
    lo = min(float(finite.min()), float(train.energies.min()))
    hi = max(float(finite.max()), float(train.energies.max()))
    w = HIST_BIN_WIDTH
    # Bins aligned to multiples of 0.2 eV/atom, the same for every histogram of the study.
    start, stop = np.floor(lo / w), np.ceil(hi / w)
    edges = np.arange(start, stop + 1) * w
    return {
        "class_sizes": metrics.class_sizes(ref.classes),
        "train_class_counts": train.class_counts(),
        "n_train": len(train),
        "n_space": space.N_SPACE,
        "class_edges": train.energy_classes.edges,
        "js_table": metrics.reference_js_table(train.codes, train.classes, ref.classes),
        "site_space_class1": metrics.class_site_distributions(ref.classes, 1),
        "site_train_class1": metrics.site_distributions(train.codes_of_class(1)),
        "hist_edges": np.round(edges, 10),
        "hist_train": np.histogram(train.energies, bins=edges)[0],
        "elements": list(space.ELEMENTS),
        "sites": list(space.SITES),
        "oracle": {"sigma": ref.sigma, "lambda": ref.lam, "holdout_mae": ref.holdout_mae,
                   "build_seconds": ref.seconds, "from_cache": loaded,
                   "load_seconds": seconds},
    }


def _load_reference(train, cache_dir: str | None, progress: bool, log: Log):
    from elpagen import oracle

    directory = Path(cache_dir).expanduser() if cache_dir else oracle.cache_dir()
    path = oracle.cache_path(train, oracle.DEFAULT_SIGMA, oracle.DEFAULT_LAMBDA, directory)
    if not path.exists():
        log(f"reference energies are not cached in {directory}; building them now "
            "(a few minutes on 2 cores, once per cache directory)")
    t0 = time.perf_counter()
    try:
        ref, loaded = oracle.load_or_build(train, cache_dir=directory, progress=progress)
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as e:  # noqa: BLE001 - memory, disk, linear algebra: one clear line
        raise StudyError(
            f"could not load or build the reference energies ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no message'}); build them first with "
            f"`elpagen oracle --cache-dir {directory}` and rerun the study"
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
) -> dict[str, Any]:
    """Run (or resume) the study in ``directory``; returns a summary.

    ``frontier5_samples``: samples per knob value of the class-5 frontier instead of the
    budget's (0: none; see :func:`elpagen.study.plan.make_settings`).

    ``execute(runner, units, todo, done, log) -> new units`` runs the units still to do:
    one after another in this process by default, on a Dask cluster with
    :func:`elpagen.study.distributed.executor`.
    The report is not written here (the runner knows nothing of it): ``elpagen study``
    calls :func:`elpagen.report.write_report` afterwards.
    """
    from elpagen import data, experiments
    from elpagen.study.store import DirLock, Store, check_directory

    log = log or (lambda _msg: None)
    from elpagen.models.protocols import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise StudyError(f"--protocol must be fast or paper, got {protocol!r}")
    if n_seeds <= 0:
        raise StudyError(f"--seeds must be a positive number of fits per model, got {n_seeds}")
    configured = [m for m in CONFIGURED if m in MODELS]
    unknown = sorted(set(overrides or {}) - set(configured))
    if unknown:
        raise StudyError(f"--set/--config name unknown model(s) {', '.join(unknown)}; "
                         f"use MODEL.KEY=VALUE with MODEL one of {', '.join(configured)}")
    t_start = time.perf_counter()
    d = check_directory(directory)
    with DirLock(d):
        train = data.load_training_set(data_path, verify=verify)
        ov = model_overrides(quick, overrides)
        settings = make_settings(protocol, n_seeds, quick, train.sha256, len(train), ov,
                                 frontier5_samples)
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
            run_id = store.start_run({"environment": experiments.environment(), "pid": os.getpid(),
                                      "host": socket.gethostname(), "status": "running",
                                      "new_units": 0})
            new = 0
            status = "interrupted"
            try:
                if todo or store.artifact("reference") is None:
                    ref, loaded, secs = _load_reference(train, cache_dir, progress, log)
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
                    store.finish_run(run_id, {"environment": experiments.environment(),
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
    """Run the remaining units in plan order; free fits nobody needs any more."""
    remaining = Counter(u.fit_key for u in todo)
    # Seeds of a fit key still to run: trained together as one ensemble when first needed.
    seeds_of: dict[str, set[int]] = {}
    for u in todo:
        seeds_of.setdefault(u.fit_key, set()).add(u.seed)
    n_total = len(units)
    n_done = n_total - len(todo)
    new = 0
    for u in todo:
        t0 = time.perf_counter()
        gen = runner.generator(u, sorted(seeds_of[u.fit_key]))
        t_fit = time.perf_counter() - t0
        payload, status = runner.run(u, gen)
        seconds = time.perf_counter() - t0
        runner.store.put_unit(
            u.key, experiment=u.experiment, model=u.model, target_class=u.target_class,
            train_size=u.train_size, seed=u.seed, payload=payload, seconds=seconds,
            status=status,
        )
        n_done += 1
        new += 1
        remaining[u.fit_key] -= 1
        if remaining[u.fit_key] == 0:
            # The RL policy table alone is ~40 MB per member: drop fits nobody needs.
            runner.fitted.pop(u.fit_key, None)
        what = describe_unit(payload, status)
        log(f"[{n_done}/{n_total}] {u.key}: {what} ({seconds:.1f} s"
            f"{f', fit/load {t_fit:.1f} s' if t_fit > 0.5 else ''})")
    return new
