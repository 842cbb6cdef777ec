"""The results document (``results.json``) from the results store, and its schema check.

:func:`collect` reads an open :class:`~elpagen.study.store.Store` (settings, the
``reference`` artifact, the stored units and runs; every query is a store method) and
assembles settings, environment, oracle, every experiment as mean ± std per model with the
per-seed values, and the data behind every figure. :func:`check_results` checks a document
against the schema (the same in quick and full studies). A study that is still running or
was interrupted gives what is stored, with ``complete`` false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from elpagen import catalogue, metrics
from elpagen.io import to_jsonable
from elpagen.study.plan import FRONTIER_CLASSES, Experiment, plan, training_spent
from elpagen.study.store import Store, now, process_gone

RESULTS_FORMAT = "elpagen-study-results"
RESULTS_VERSION = 1
from elpagen.metrics import METRIC_KEYS  # noqa: E402 - re-exported by the report

COST_KEYS = ("n_checks", "n_train", "found", "random_checks", "ratio", "ratio_with_training")
COST_FORMULA = ("random_checks = found * (N_space + 1) / (N_class1 + 1); "
                "ratio = random_checks / n_checks; "
                "ratio_with_training = random_checks / (n_train + n_checks), n_train = size of "
                "the training set the model was fitted on (0 for random screening)")

Row = Mapping[str, Any]  # one stored unit: a row of Store.units()


# --------------------------------------------------------------------------- units


def _units_of(units: Sequence[Row], experiment: str, model: str, *,
              train_size: int | None = None, ok: bool = True) -> list[Row]:
    """The stored units of ``model`` in ``experiment``, in store (key) order: the successful
    ones, or with ``ok=False`` the failed ones; ``train_size`` (0: the full training set)
    keeps one training-set size."""
    return [u for u in units
            if u["experiment"] == experiment and u["model"] == model
            and (train_size is None or u["train_size"] == train_size)
            and (u["status"] == "ok") == ok]


def _by_seed(units: Sequence[Row]) -> list[Row]:
    return sorted(units, key=lambda u: u["seed"])


def _summary(per_seed: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """mean ± std per numeric key; every key of ``keys`` present (None where undefined)."""
    agg = metrics.aggregate(per_seed) if per_seed else {}
    out = {k: v for k, v in agg.items() if k != "seed"}
    for k in keys:
        out.setdefault(k, {"mean": None, "std": None})
    return out


def _per_seed(u: Row) -> dict[str, Any]:
    p = u["payload"]
    row = {"seed": u["seed"], **p["metrics"]}
    row["seconds"] = u["seconds"]
    for k in ("fit_seconds", "sample_seconds", "eval_seconds"):
        if p.get(k) is not None:
            row[k] = p[k]
    return row


# --------------------------------------------------------------------------- experiments


def _experiment(units, experiment: Experiment, settings, ref, target_class: int,
                samples: int) -> dict:
    sizes = ref["class_sizes"] if ref else [0] * 10
    class_size = int(sizes[target_class - 1])
    models = {}
    for m in settings["models"]:
        per_seed = [_per_seed(u) for u in _by_seed(_units_of(units, experiment, m))]
        models[m] = {
            "n_fits": len(per_seed),
            "summary": _summary(per_seed, METRIC_KEYS),
            "per_seed": per_seed,
            "failed": [{"seed": u["seed"], "error": u["payload"].get("error", "")}
                       for u in _units_of(units, experiment, m, ok=False)],
        }
    return {
        "target_class": target_class,
        "samples": samples,
        "class_size": class_size,
        "ideal_coverage": metrics.ideal_coverage(class_size, samples),
        "models": models,
    }


def _training_size(units, settings, ref) -> dict:
    n_full = int(settings["n_train"])
    sizes = [int(n) for n in settings["train_sizes"]] + [n_full]
    samples = int(settings["samples"]["training_size"])
    models = {}
    for m in settings["models"]:
        by_size = []
        for n in sizes:
            exp, size_key = (Experiment.CLASS1, 0) if n == n_full else (Experiment.SIZE, n)
            ok = _by_seed(_units_of(units, exp, m, train_size=size_key))
            per_seed = [_per_seed(u) for u in ok]
            by_size.append({"size": n, "n_fits": len(per_seed),
                            "summary": _summary(per_seed, METRIC_KEYS), "per_seed": per_seed})
        models[m] = {"by_size": by_size}
    class_size = int(ref["class_sizes"][0]) if ref else 0
    return {"target_class": 1, "samples": samples, "sizes": sizes, "subset_seed":
            settings["subset_seed"], "ideal_coverage": metrics.ideal_coverage(class_size, samples),
            "models": models}


def _cost(units, settings, ref) -> dict:
    models = {}
    for m in settings["models"]:
        ok = _by_seed(_units_of(units, Experiment.CLASS1, m))
        per_seed = [{"seed": u["seed"], **cost_row(u, settings)} for u in ok]
        models[m] = {"n_fits": len(per_seed), "summary": _summary(per_seed, COST_KEYS),
                     "per_seed": per_seed}
    return {
        "target_class": 1,
        "samples": int(settings["samples"]["class1"]),
        "n_space": int(ref["n_space"]) if ref else None,
        "class_size": int(ref["class_sizes"][0]) if ref else None,
        "formula": COST_FORMULA,
        "formulas": {
            "random_checks": "found * (N_space + 1) / (N_class1 + 1)",
            "ratio": "random_checks / n_checks",
            "ratio_with_training": "random_checks / (n_train + n_checks)",
        },
        "models": models,
    }


def cost_row(u: Row, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The cost numbers of one stored class-1 unit; units stored before ``ratio_with_training``
    existed get it from their stored numbers (n_checks, random_checks, n_train)."""
    c = dict(u["payload"]["cost"])
    if "ratio_with_training" not in c:
        n_train = training_spent(u["model"], u["payload"].get("n_train", settings["n_train"]))
        spent = n_train + int(c["n_checks"])
        c["n_train"] = n_train
        c["ratio_with_training"] = c["random_checks"] / spent if spent else 0.0
    return c


def _frontier(units, settings, ref, target_class: int) -> dict:
    """The precision-coverage frontier of every model for one class: the stored sweeps of
    its fits summarised by :func:`elpagen.harness.frontier.summarise` (points mean ± std over the
    fits, the knob values of the non-dominated points, hypervolume mean ± std)."""
    from types import SimpleNamespace

    from elpagen.harness.frontier import POINT_KEYS, published_points, summarise

    samples = settings["samples"].get(f"frontier_class{target_class}")
    sizes = ref["class_sizes"] if ref else [0] * 10
    class_size = int(sizes[target_class - 1])
    models = {}
    for m in settings["models"]:
        ok = [u for u in _by_seed(_units_of(units, Experiment.FRONTIER, m))
              if u["target_class"] == target_class]
        failed = [{"seed": u["seed"], "error": u["payload"].get("error", "")}
                  for u in _units_of(units, Experiment.FRONTIER, m, ok=False)
                  if u["target_class"] == target_class]
        # Only sweeps over the same knob values are averaged (all of them, in one study).
        if ok:
            grid = [p["knob"] for p in ok[0]["payload"]["points"]]
            ok = [u for u in ok if [p["knob"] for p in u["payload"]["points"]] == grid]
        if ok:
            p0 = ok[0]["payload"]
            gen = SimpleNamespace(knob=p0["knob"], knob_value=p0["default"])
            me = summarise(m, gen, [u["payload"]["points"] for u in ok])
            me["hypervolume"]["per_seed"] = [float(h) for h in me["hypervolume"]["per_seed"]]
        else:
            me = {"knob": None, "default": None, "points": [], "front": [],
                  "hypervolume": {"mean": None, "std": None, "per_seed": []}}
        me.update(n_fits=len(ok), seeds=[u["seed"] for u in ok], failed=failed,
                  screening=catalogue.is_screening(m))
        models[m] = me
    return {
        "target_class": target_class,
        "samples": int(samples or 0),
        "class_size": class_size,
        "ideal_coverage": metrics.ideal_coverage(class_size, samples) if samples else None,
        "point_keys": list(POINT_KEYS),
        "published": published_points(target_class),
        "models": models,
    }


# --------------------------------------------------------------------------- figure data


def _curves(units, settings, experiment: Experiment) -> dict:
    """The discovery curve of one representative fit per model (the lowest stored seed)."""
    out = {}
    for m in settings["models"]:
        ok = _by_seed(_units_of(units, experiment, m))
        if ok:
            out[m] = {"seed": ok[0]["seed"], **ok[0]["payload"]["curve"]}
    return out


def _histograms(units, settings, ref) -> dict:
    models = {}
    for m in settings["models"]:
        ok = _units_of(units, Experiment.CLASS1, m)
        if ok:
            counts = np.mean([u["payload"]["energy_hist"] for u in ok], axis=0)
            models[m] = {"n_fits": len(ok), "counts": to_jsonable(counts)}
    edges = ref["class_edges"] if ref else [0.0, 0.0]
    return {
        "bin_width": settings["hist_bin_width"],
        "edges": ref["hist_edges"] if ref else [],
        "training": ref["hist_train"] if ref else [],
        "class1_window": [edges[0], edges[1]],
        "models": models,
    }


def _sites(units, settings, ref) -> dict:
    models = {}
    for m in settings["models"]:
        ok = _units_of(units, Experiment.CLASS1, m)
        if ok:
            models[m] = to_jsonable(np.mean([u["payload"]["site_distribution"] for u in ok],
                                            axis=0))
    return {
        "elements": ref["elements"] if ref else [],
        "sites": ref["sites"] if ref else [],
        "space": ref["site_space_class1"] if ref else [],
        "training": ref["site_train_class1"] if ref else [],
        "models": models,
    }


def _run_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the runs table. A run that never recorded its end (killed) is closed by
    the next run of the study (store.close_stale_runs); until then it shows as
    interrupted here too when its process is known to be gone (same host, no such pid)."""
    row = {k: r.get(k) for k in ("id", "started", "finished", "status", "new_units", "seconds")}
    row["end_unknown"] = bool(r.get("end_unknown"))
    if row["finished"] is None and row["status"] == "running" and process_gone(r):
        row["status"] = "interrupted"
        row["end_unknown"] = True
    return row


def collect(store: Store) -> dict[str, Any]:
    """The results document (results.json) from the store; ``figures`` is left empty."""
    settings = store.settings()
    ref = store.artifact("reference")
    units = store.units()
    planned = {u.key for u in plan(settings)}
    stored = {u["key"] for u in units}
    runs = store.runs()
    env = runs[-1].get("environment", {}) if runs else {}
    oracle = dict(settings["oracle"])
    if ref:
        oracle.update(holdout_mae=ref["oracle"]["holdout_mae"],
                      class_sizes=ref["class_sizes"], n_space=ref["n_space"])
    else:
        oracle.update(holdout_mae=None, class_sizes=[], n_space=None)
    s = settings["samples"]
    return {
        "format": RESULTS_FORMAT,
        "format_version": RESULTS_VERSION,
        "generated": now(),
        "complete": planned <= stored,
        "progress": {"planned": len(planned), "done": len(planned & stored),
                     "failed": sum(u["status"] != "ok" for u in units)},
        "settings": settings,
        "environment": env,
        "runs": [_run_row(r) for r in runs],
        "oracle": oracle,
        "training_set": {
            "n": settings["n_train"],
            "class_counts": ref["train_class_counts"] if ref else [],
            "class_edges": ref["class_edges"] if ref else [],
        },
        "reference_js": ref["js_table"] if ref else [],
        "experiments": {
            "class1": _experiment(units, Experiment.CLASS1, settings, ref, 1, s["class1"]),
            "class5": _experiment(units, Experiment.CLASS5, settings, ref, 5, s["class5"]),
            "training_size": _training_size(units, settings, ref),
            "cost": _cost(units, settings, ref),
        },
        "frontier": {f"class{c}": _frontier(units, settings, ref, c) for c in FRONTIER_CLASSES},
        "discovery": {"class1": _curves(units, settings, Experiment.CURVE1),
                      "class5": _curves(units, settings, Experiment.CLASS5)},
        "energy_histograms": _histograms(units, settings, ref),
        "site_distributions": _sites(units, settings, ref),
        "figures": [],
    }


# --------------------------------------------------------------------------- schema


def check_results(obj: Any) -> list[str]:
    """Problems of a results.json document against the schema (empty list: it conforms)."""
    problems: list[str] = []

    def need(d: Any, key: str, typ: type | tuple[type, ...], where: str) -> Any:
        if not isinstance(d, Mapping) or key not in d:
            problems.append(f"{where}.{key}: missing")
            return None
        v = d[key]
        if not isinstance(v, typ) or (isinstance(v, bool) and bool not in _as_tuple(typ)):
            problems.append(f"{where}.{key}: expected {_names(typ)}, got {type(v).__name__}")
            return None
        return v

    num = (int, float)
    opt_num = (int, float, type(None))
    if not isinstance(obj, Mapping):
        return ["top level: expected an object"]
    if obj.get("format") != RESULTS_FORMAT:
        problems.append(f"format: expected {RESULTS_FORMAT!r}")
    if obj.get("format_version") != RESULTS_VERSION:
        problems.append(f"format_version: expected {RESULTS_VERSION}")
    need(obj, "generated", str, "")
    need(obj, "complete", bool, "")
    prog = need(obj, "progress", dict, "")
    for k in ("planned", "done", "failed"):
        need(prog, k, int, "progress")
    st = need(obj, "settings", dict, "") or {}
    for k, t in (("protocol", str), ("quick", bool), ("seeds", int), ("seed_values", list),
                 ("models", list), ("samples", dict), ("train_sizes", list),
                 ("model_configs", dict), ("elpagen_version", str), ("data_sha256", str),
                 ("n_train", int), ("oracle", dict)):
        need(st, k, t, "settings")
    for k in ("class1", "class5", "curve_class1", "training_size"):
        need(st.get("samples"), k, int, "settings.samples")
    models = st.get("models") or []
    need(obj, "environment", dict, "")
    need(obj, "runs", list, "")
    orc = need(obj, "oracle", dict, "")
    for k in ("sigma", "lambda"):
        need(orc, k, num, "oracle")
    need(orc, "holdout_mae", opt_num, "oracle")
    need(orc, "class_sizes", list, "oracle")
    ts = need(obj, "training_set", dict, "")
    need(ts, "n", int, "training_set")
    need(ts, "class_counts", list, "training_set")
    need(obj, "reference_js", list, "")
    ex = need(obj, "experiments", dict, "") or {}

    def check_summary(summary: Any, keys: Sequence[str], where: str) -> None:
        if not isinstance(summary, Mapping):
            problems.append(f"{where}: expected an object")
            return
        for k in keys:
            ms = need(summary, k, dict, where)
            if ms is not None:
                need(ms, "mean", opt_num, f"{where}.{k}")
                need(ms, "std", opt_num, f"{where}.{k}")

    for name, tc in (("class1", 1), ("class5", 5)):
        e = need(ex, name, dict, "experiments")
        if e is None:
            continue
        if e.get("target_class") != tc:
            problems.append(f"experiments.{name}.target_class: expected {tc}")
        need(e, "samples", int, f"experiments.{name}")
        need(e, "class_size", int, f"experiments.{name}")
        need(e, "ideal_coverage", num, f"experiments.{name}")
        ms = need(e, "models", dict, f"experiments.{name}") or {}
        for m in models:
            me = need(ms, m, dict, f"experiments.{name}.models")
            if me is None:
                continue
            need(me, "n_fits", int, f"experiments.{name}.models.{m}")
            check_summary(me.get("summary"), METRIC_KEYS, f"experiments.{name}.models.{m}.summary")
            for i, row in enumerate(need(me, "per_seed", list, f"experiments.{name}.models.{m}")
                                    or []):
                need(row, "seed", int, f"experiments.{name}.models.{m}.per_seed[{i}]")
                for k in METRIC_KEYS:
                    need(row, k, opt_num, f"experiments.{name}.models.{m}.per_seed[{i}]")
    tsz = need(ex, "training_size", dict, "experiments") or {}
    need(tsz, "sizes", list, "experiments.training_size")
    tms = need(tsz, "models", dict, "experiments.training_size") or {}
    for m in models:
        me = need(tms, m, dict, "experiments.training_size.models") or {}
        for i, b in enumerate(need(me, "by_size", list, f"experiments.training_size.models.{m}")
                              or []):
            where = f"experiments.training_size.models.{m}.by_size[{i}]"
            need(b, "size", int, where)
            need(b, "n_fits", int, where)
            check_summary(b.get("summary"), METRIC_KEYS, where + ".summary")
    cost = need(ex, "cost", dict, "experiments") or {}
    need(cost, "formula", str, "experiments.cost")
    formulas = need(cost, "formulas", dict, "experiments.cost") or {}
    for k in ("random_checks", "ratio", "ratio_with_training"):
        need(formulas, k, str, "experiments.cost.formulas")
    cms = need(cost, "models", dict, "experiments.cost") or {}
    for m in models:
        me = need(cms, m, dict, "experiments.cost.models") or {}
        check_summary(me.get("summary"), COST_KEYS, f"experiments.cost.models.{m}.summary")
    fr = need(obj, "frontier", dict, "") or {}
    for c in FRONTIER_CLASSES:
        e = need(fr, f"class{c}", dict, "frontier")
        if e is None:
            continue
        where = f"frontier.class{c}"
        if e.get("target_class") != c:
            problems.append(f"{where}.target_class: expected {c}")
        need(e, "samples", int, where)
        need(e, "ideal_coverage", opt_num, where)
        need(e, "published", dict, where)
        fms = need(e, "models", dict, where) or {}
        for m in models:
            me = need(fms, m, dict, f"{where}.models")
            if me is None:
                continue
            w = f"{where}.models.{m}"
            need(me, "n_fits", int, w)
            need(me, "knob", (str, type(None)), w)
            need(me, "front", list, w)
            need(me, "screening", bool, w)
            hv = need(me, "hypervolume", dict, w)
            if hv is not None:
                need(hv, "mean", opt_num, f"{w}.hypervolume")
                need(hv, "std", opt_num, f"{w}.hypervolume")
            for i, p in enumerate(need(me, "points", list, w) or []):
                need(p, "knob", opt_num, f"{w}.points[{i}]")
                check_summary(p, ("precision", "coverage", "js_distance"), f"{w}.points[{i}]")
    disc = need(obj, "discovery", dict, "") or {}
    for name in ("class1", "class5"):
        for m, c in (need(disc, name, dict, "discovery") or {}).items():
            where = f"discovery.{name}.{m}"
            for k in ("n_samples", "novel", "novel_total", "rediscovered", "repeated"):
                need(c, k, list, where)
            if isinstance(c, Mapping) and isinstance(c.get("novel"), list):
                if any(not isinstance(r, list) or len(r) != 10 for r in c["novel"]):
                    problems.append(f"{where}.novel: expected rows of 10 classes")
    hist = need(obj, "energy_histograms", dict, "") or {}
    need(hist, "bin_width", num, "energy_histograms")
    edges = need(hist, "edges", list, "energy_histograms") or []
    need(hist, "training", list, "energy_histograms")
    for m, h in (need(hist, "models", dict, "energy_histograms") or {}).items():
        counts = need(h, "counts", list, f"energy_histograms.models.{m}")
        if counts is not None and edges and len(counts) != len(edges) - 1:
            problems.append(f"energy_histograms.models.{m}.counts: expected {len(edges) - 1} bins")
    sd = need(obj, "site_distributions", dict, "") or {}
    for k in ("elements", "sites", "space", "training"):
        need(sd, k, list, "site_distributions")
    need(sd, "models", dict, "site_distributions")
    figs = need(obj, "figures", list, "") or []
    for i, f in enumerate(figs):
        need(f, "file", str, f"figures[{i}]")
        need(f, "caption", str, f"figures[{i}]")
    return problems


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _names(t: type | tuple[type, ...]) -> str:
    return " or ".join(x.__name__ for x in _as_tuple(t))
