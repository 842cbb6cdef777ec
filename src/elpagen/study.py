"""The study: every experiment of docs/method.md section 7, resumable, into one directory.

``elpagen study [--protocol fast|paper] [--seeds K] [--quick] [-o DIR]`` plans a list of
*work units* with stable keys ``experiment/model/c<class>/n<size>/s<seed>``:

* ``class1``: the full training set, target class 1, 10,000 valid samples per fit (metrics,
  per-site distributions, energy histogram of the unique generations, cost of discovery);
* ``curve1``: one fit per model (the first seed), class 1, 250,000 samples (discovery curve);
* ``class5``: class 5, 25 million valid samples per fit (metrics and discovery curve);
* ``size``: training subsets of 1,000 ... 10,000 compositions (A/B twins together), class 1,
  10,000 samples (the full-set point of this study is the ``class1`` experiment).

A unit samples one fitted generator, scores it with the reference energies and writes one
row to the results store (:mod:`elpagen.store`) at once. Fits are shared: the conditional
models (vae, gan) are fitted once on the full set and serve class1, curve1 and class5; rl is
fitted per class; every training size has its own fits. The torch models train the seeds a
fit key still needs as one batched ensemble, then every member is checkpointed
(``DIR/checkpoints/<fit>/s<seed>``, written atomically) before its units run.

Unit of loss: Ctrl-C, a crash or a full disk loses at most the work in progress: either the
one unit being sampled and scored (its fit is checkpointed and is reloaded, not retrained),
or the one ensemble being trained (the seeds of one model/class/training size that were
still missing, trained together). Baselines are not checkpointed (refitting them is
instant). Every stored unit, fit record and checkpoint is kept; rerunning the same command
skips them and resumes. The results do not depend on where a run was interrupted: a
checkpoint holds the member's exact weights, and an ensemble member is the same fit as a
single-seed fit with its seed (up to floating-point rounding of the batched training).

The report (:mod:`elpagen.report`) is rebuilt from the store at the end of every run and by
``elpagen report DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import __version__, metrics, space
from elpagen.errors import UserError

MODELS: tuple[str, ...] = ("vae", "gan", "rl", "marginal", "random")
EXPERIMENTS: tuple[str, ...] = ("class1", "curve1", "class5", "size")
#: Fixed seed of the random training subsets (one subset per size, shared by all seeds, so
#: the torch models can train the seeds of one size as one ensemble).
SUBSET_SEED = 0
HIST_BIN_WIDTH = 0.2  # eV/atom
CURVE_POINTS = 200
CHECKPOINTS = "checkpoints"

Log = Callable[[str], None]


class StudyError(UserError, ValueError):
    """A user-facing study error (one line, exit code 2)."""


@dataclass(frozen=True)
class Budget:
    """Sample counts, training sizes and model-setting overrides of one study size."""

    class1_samples: int
    class5_samples: int
    curve1_samples: int
    train_sizes: tuple[int, ...]  # subsets below the full set (the full set is class1)
    overrides: Mapping[str, Mapping[str, Any]]


#: docs/method.md section 7 as written.
FULL = Budget(10_000, 25_000_000, 250_000, (1_000, 2_000, 5_000, 10_000), {})
#: A first look and the test suite: tiny networks, few samples, same experiments and schema.
QUICK = Budget(
    2_000, 20_000, 5_000, (1_000,),
    {
        "vae": {"hidden": (32, 32), "steps": 60, "batch_size": 64},
        "gan": {"hidden": (32,), "steps": 20, "batch_size": 64},
        "rl": {"hidden": (32, 32), "steps": 60, "batch_size": 64},
    },
)


@dataclass(frozen=True)
class Unit:
    """One fit sampled and scored for one experiment."""

    experiment: str
    model: str
    target_class: int
    train_size: int  # 0: the full training set
    seed: int
    n_samples: int

    @property
    def key(self) -> str:
        return (f"{self.experiment}/{self.model}/c{self.target_class}/"
                f"n{self.train_size or 'full'}/s{self.seed}")

    @property
    def fit_key(self) -> str:
        """The fit this unit samples: conditional generators serve every class."""
        from elpagen.models.registry import GENERATOR_CLASSES

        conditional = getattr(GENERATOR_CLASSES[self.model], "conditional", True)
        cls = "all" if conditional else f"c{self.target_class}"
        return f"{self.model}/{cls}/n{self.train_size or 'full'}"

    @property
    def sample_seed(self) -> int:
        from elpagen.experiments import sample_seed

        # curve1 samples the class-1 fit again: its own stream, not a longer class1 run.
        return sample_seed(self.seed) + (1 if self.experiment == "curve1" else 0)


# --------------------------------------------------------------------------- settings


def budget_for(quick: bool) -> Budget:
    return QUICK if quick else FULL


def model_overrides(
    quick: bool, user: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Quick-budget overrides with the user's ``--set MODEL.KEY=VALUE`` on top."""
    out = {m: dict(v) for m, v in budget_for(quick).overrides.items()}
    for m, kv in (user or {}).items():
        out.setdefault(m, {}).update(kv)
    return out


def make_settings(
    protocol: str,
    n_seeds: int,
    quick: bool,
    data_sha256: str,
    n_train: int,
    overrides: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Everything that fixes the results of a study; a store only resumes identical ones."""
    from elpagen import oracle
    from elpagen.models.base import resolve_config
    from elpagen.models.registry import MODEL_CLASSES

    b = budget_for(quick)
    configs = {}
    for name, cls in MODEL_CLASSES.items():
        cfg = resolve_config(cls.Config, cls.PROTOCOLS, protocol, overrides.get(name))
        configs[name] = dataclasses.asdict(cfg)
    return {
        "protocol": protocol,
        "quick": bool(quick),
        "seeds": int(n_seeds),
        "seed_values": list(range(n_seeds)),
        "models": list(MODELS),
        "samples": {"class1": b.class1_samples, "class5": b.class5_samples,
                    "curve_class1": b.curve1_samples, "training_size": b.class1_samples},
        # Sizes at or above the training set are dropped (possible only with --no-verify data).
        "train_sizes": [n for n in b.train_sizes if n < n_train],
        "subset_seed": SUBSET_SEED,
        "model_configs": configs,
        "elpagen_version": __version__,
        "data_sha256": data_sha256,
        "n_train": int(n_train),
        "oracle": {"sigma": oracle.DEFAULT_SIGMA, "lambda": oracle.DEFAULT_LAMBDA},
        "hist_bin_width": HIST_BIN_WIDTH,
        "curve_points": CURVE_POINTS,
    }


def plan(settings: Mapping[str, Any]) -> list[Unit]:
    """All units, in the order they run: class 1 first (the main result), class 5 last
    but one (the long one), then the training-size study."""
    seeds = settings["seed_values"]
    models = settings["models"]
    n = settings["samples"]
    units = [Unit("class1", m, 1, 0, s, n["class1"]) for m in models for s in seeds]
    units += [Unit("curve1", m, 1, 0, seeds[0], n["curve_class1"]) for m in models]
    units += [Unit("class5", m, 5, 0, s, n["class5"]) for m in models for s in seeds]
    units += [Unit("size", m, 1, size, s, n["training_size"])
              for size in settings["train_sizes"] for m in models for s in seeds]
    return units


# --------------------------------------------------------------------------- the runner


class _Runner:
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
        from elpagen.models.base import ModelLoadError, load_model

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
        torch_model = unit.model in self.settings["model_configs"]
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
                    from elpagen import store as store_mod

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
        with self.store.transaction() as c:
            for s in seeds:
                c.execute("INSERT OR REPLACE INTO fits(key, payload, finished) VALUES (?, ?, ?)",
                          (f"{fk}/s{s}", _dumps(info), _now()))
        if torch_model:
            self.log(f"  {fk}: trained {len(seeds)} seed(s) in {seconds:.1f} s")

    def run(self, unit: Unit, gen) -> tuple[dict[str, Any], str]:
        """Sample, score and describe one unit; returns (payload, status)."""
        from elpagen.generator import SamplingError

        train = self.training_set(unit.train_size)
        ref = self.ref
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
        if unit.experiment == "class1":
            payload["site_distribution"] = np.round(metrics.site_distributions(codes), 6)
            uniq = metrics.unique_energies(codes, ref.energies)
            payload["energy_hist"] = np.histogram(uniq, bins=self.edges)[0]
            payload["cost"] = cost_of_discovery(m["n_unique"], m["n_unique_in_class"],
                                                self.n_class1,
                                                n_train=training_spent(unit.model, len(train)))
        if unit.experiment in ("curve1", "class5"):
            curve = metrics.discovery_curve(
                codes, ref.classes, train.codes,
                points=metrics.default_points(len(codes), CURVE_POINTS),
            )
            payload["curve"] = {k: np.asarray(v).tolist() for k, v in curve.items()}
        payload["eval_seconds"] = time.perf_counter() - t1
        return payload, "ok"


#: Generators that learn nothing from the training set: they spend no DFT calculations on it.
TRAINING_FREE: frozenset[str] = frozenset({"random"})


def training_spent(model: str, n_train: int) -> int:
    """DFT calculations a generator spent on its training set: the size of the set it was
    fitted on, 0 for one that ignores it (random screening)."""
    return 0 if model in TRAINING_FREE else int(n_train)


def cost_of_discovery(n_unique: int, found: int, n_class: int,
                      n_space: int = space.N_SPACE, n_train: int = 0) -> dict[str, float]:
    """DFT checks of a generator vs random screening for the same number of class-1 finds.

    n_checks = unique generations (each needs one DFT check); found = those in class 1;
    random screening without replacement needs found * (N_space + 1) / (N_c + 1) checks on
    average (negative hypergeometric mean). Two ratios (> 1: the model is cheaper):

    * ``ratio`` = random_checks / n_checks: the verification of the generations alone;
    * ``ratio_with_training`` = random_checks / (n_train + n_checks): the paper's yardstick,
      which also charges the DFT calculations of the ``n_train`` training compositions the
      model was fitted on (its "factor of 50" for the GAN, "of 100" for 1,000 compositions).
    """
    random_checks = metrics.screening_cost(found, n_class, n_space)
    spent = int(n_train) + int(n_unique)
    return {
        "n_checks": int(n_unique),
        "n_train": int(n_train),
        "found": int(found),
        "random_checks": random_checks,
        "ratio": random_checks / n_unique if n_unique else 0.0,
        "ratio_with_training": random_checks / spent if spent else 0.0,
        "hit_rate": found / n_unique if n_unique else 0.0,
    }


def _dumps(obj: Any) -> str:
    from elpagen.store import dumps

    return dumps(obj)


def _now() -> str:
    from elpagen.store import now

    return now()


# --------------------------------------------------------------------------- reference


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
) -> dict[str, Any]:
    """Run (or resume) the study in ``directory`` and write its report; returns a summary."""
    from elpagen import data, experiments, report
    from elpagen.store import DirLock, Store, check_directory

    log = log or (lambda _msg: None)
    if protocol not in ("fast", "paper"):
        raise StudyError(f"--protocol must be fast or paper, got {protocol!r}")
    if n_seeds <= 0:
        raise StudyError(f"--seeds must be a positive number of fits per model, got {n_seeds}")
    unknown = sorted(set(overrides or {}) - set(MODELS[:3]))
    if unknown:
        raise StudyError(f"--set/--config name unknown model(s) {', '.join(unknown)}; "
                         "use vae.KEY=VALUE, gan.KEY=VALUE or rl.KEY=VALUE")
    t_start = time.perf_counter()
    d = check_directory(directory)
    with DirLock(d):
        train = data.load_training_set(data_path, verify=verify)
        ov = model_overrides(quick, overrides)
        settings = make_settings(protocol, n_seeds, quick, train.sha256, len(train), ov)
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
                    runner = _Runner(d, store, train, ref, settings, ov, device, progress, log)
                    new = _run_units(runner, units, todo, done, log)
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
        summary = report.write_report(d)
    return {
        "directory": str(d),
        "planned": len(units),
        "done": n_done,
        "new": new,
        "seconds": time.perf_counter() - t_start,
        "report": summary["report"],
        "complete": n_done == len(units),
    }


def _run_units(runner: _Runner, units: list[Unit], todo: list[Unit], done: set[str],
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
        what = (f"{payload['metrics']['n_valid']:,} samples, precision "
                f"{payload['metrics']['precision']:.3f}" if status == "ok"
                else f"FAILED: {payload['error']}")
        log(f"[{n_done}/{n_total}] {u.key}: {what} ({seconds:.1f} s"
            f"{f', fit/load {t_fit:.1f} s' if t_fit > 0.5 else ''})")
    return new


# --------------------------------------------------------------------------- CLI


def parse_model_overrides(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"vae.steps": "500"}`` or ``{"vae": {"steps": 500}}`` -> ``{"vae": {"steps": ...}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if isinstance(value, Mapping):
            out.setdefault(key, {}).update(value)
            continue
        model, dot, setting = key.partition(".")
        if not dot or not setting:
            raise StudyError(f"study settings are per model: use MODEL.KEY=VALUE (e.g. "
                             f"vae.steps=500), got {key!r}")
        out.setdefault(model, {})[setting] = value
    return out


def cmd_study(args: argparse.Namespace) -> int:
    from elpagen.cli import _log, _parse_overrides

    overrides = parse_model_overrides(_parse_overrides(args.set, args.config))
    out = args.output or f"elpagen-study-{args.protocol}{'-quick' if args.quick else ''}"
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    result = run_study(
        out, protocol=args.protocol, n_seeds=n_seeds, quick=args.quick, data_path=args.data,
        verify=not args.no_verify, cache_dir=args.cache_dir, device=args.device,
        overrides=overrides, progress=not args.quiet, log=None if args.quiet else _log,
    )
    state = "complete" if result["complete"] else "incomplete"
    print(f"{result['report']}: {result['done']}/{result['planned']} units ({state}, "
          f"{result['new']} new this run) in {result['seconds']:.1f} s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from elpagen import report

    t0 = time.perf_counter()
    summary = report.write_report(Path(args.dir))
    print(f"{summary['report']}: {len(summary['figures'])} figures, "
          f"{summary['done']}/{summary['planned']} units, rebuilt from the store in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


def add_cli(subparsers: Any) -> None:
    """Add the ``study`` and ``report`` subcommands to the elpagen parser."""
    from elpagen.cli import _common, _train_opts

    p = subparsers.add_parser(
        "study", help="run every experiment of the study (resumable) and write the report",
        description="Run every experiment of docs/method.md section 7 into DIR (a SQLite results "
                    "store; rerunning resumes) and write DIR/report.html, its figures and "
                    "DIR/results.json.",
    )
    _common(p)
    _train_opts(p)
    for a in p._actions:  # the shared help speaks of one model; here settings are per model
        if "--set" in a.option_strings:
            a.help = "override one model setting (repeatable): MODEL.KEY=VALUE, e.g. vae.steps=500"
        elif "--config" in a.option_strings:
            a.help = 'JSON file of per-model settings, e.g. {"gan": {"steps": 1000}}'
    p.add_argument("--seeds", type=int, default=None,
                   help="fits per model (default 3; 2 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="tiny budgets (a first look, the tests): minutes instead of hours")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="study directory (default elpagen-study-PROTOCOL[-quick])")
    p.set_defaults(func=cmd_study)

    p = subparsers.add_parser("report", help="rebuild a study's report from its store alone")
    p.add_argument("dir", metavar="DIR", help="a directory written by `elpagen study`")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_report)


if __name__ == "__main__":  # pragma: no cover
    from elpagen.cli import main

    sys.exit(main(["study", *sys.argv[1:]]))
