"""The study report, built from the results store alone (no refitting, no oracle).

:func:`write_report` reads ``DIR/study.sqlite`` read-only and writes, each atomically
(temp file + ``os.replace``):

* ``DIR/results.json``: settings, environment, oracle, every experiment as mean ± std per
  model with the per-seed values, and the data behind every figure (schema: see
  :func:`check_results`; the same in quick and full studies);
* one PNG per figure (matplotlib, Agg backend);
* ``DIR/report.html``: self-contained (inline CSS), the PNGs beside it, a caption under every
  figure, the metric tables with the ideal-coverage bound, settings, environment and runs.

A study that is still running or was interrupted gives a report of what is stored, marked
incomplete; missing data shows as "no data yet" in the figures.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import metrics
from elpagen.store import Store, atomic_write_bytes, dumps, now, process_gone

RESULTS_FORMAT = "elpagen-study-results"
RESULTS_VERSION = 1
METRIC_KEYS = ("precision", "precision_neighbor", "coverage", "coverage_neighbor", "js_distance")
COST_KEYS = ("n_checks", "n_train", "found", "random_checks", "ratio", "ratio_with_training")
FIGURES = (
    "class_distribution.png",
    "reference_js.png",
    "discovery_class1.png",
    "discovery_class5.png",
    "energy_histograms_class1.png",
    "site_distributions_class1.png",
    "training_size.png",
    "cost_of_discovery.png",
)
MODEL_COLORS = {"vae": "C0", "gan": "C1", "rl": "C2", "marginal": "C4", "random": "C7"}
MODEL_LABELS = {"vae": "VAE", "gan": "GAN", "rl": "RL (DQN)", "marginal": "marginal baseline",
                "random": "random screening"}


# --------------------------------------------------------------------------- collect


def _summary(per_seed: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """mean ± std per numeric key; every key of ``keys`` present (None where undefined)."""
    agg = metrics.aggregate(per_seed) if per_seed else {}
    out = {k: v for k, v in agg.items() if k != "seed"}
    for k in keys:
        out.setdefault(k, {"mean": None, "std": None})
    return out


def _per_seed(u: Mapping[str, Any], extra: Sequence[str] = ()) -> dict[str, Any]:
    p = u["payload"]
    row = {"seed": u["seed"], **p["metrics"]}
    row["seconds"] = u["seconds"]
    for k in ("fit_seconds", "sample_seconds", "eval_seconds", *extra):
        if p.get(k) is not None:
            row[k] = p[k]
    return row


def _experiment(units, experiment, settings, ref, target_class: int, samples: int) -> dict:
    sizes = ref["class_sizes"] if ref else [0] * 10
    class_size = int(sizes[target_class - 1])
    models = {}
    for m in settings["models"]:
        us = [u for u in units if u["experiment"] == experiment and u["model"] == m]
        ok = sorted((u for u in us if u["status"] == "ok"), key=lambda u: u["seed"])
        per_seed = [_per_seed(u) for u in ok]
        models[m] = {
            "n_fits": len(per_seed),
            "summary": _summary(per_seed, METRIC_KEYS),
            "per_seed": per_seed,
            "failed": [{"seed": u["seed"], "error": u["payload"].get("error", "")}
                       for u in us if u["status"] != "ok"],
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
            exp, size_key = ("class1", 0) if n == n_full else ("size", n)
            ok = sorted((u for u in units if u["experiment"] == exp and u["model"] == m
                         and u["train_size"] == size_key and u["status"] == "ok"),
                        key=lambda u: u["seed"])
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
        ok = sorted((u for u in units if u["experiment"] == "class1" and u["model"] == m
                     and u["status"] == "ok"), key=lambda u: u["seed"])
        per_seed = [{"seed": u["seed"], **_cost_row(u, settings)} for u in ok]
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


COST_FORMULA = ("random_checks = found * (N_space + 1) / (N_class1 + 1); "
                "ratio = random_checks / n_checks; "
                "ratio_with_training = random_checks / (n_train + n_checks), n_train = size of "
                "the training set the model was fitted on (0 for random screening)")


def _cost_row(u: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The cost numbers of one class-1 unit; units stored before ``ratio_with_training``
    existed get it from their stored numbers (n_checks, random_checks, n_train)."""
    from elpagen.study import training_spent

    c = dict(u["payload"]["cost"])
    if "ratio_with_training" not in c:
        n_train = training_spent(u["model"], u["payload"].get("n_train", settings["n_train"]))
        spent = n_train + int(c["n_checks"])
        c["n_train"] = n_train
        c["ratio_with_training"] = c["random_checks"] / spent if spent else 0.0
    return c


def _curves(units, settings, experiment: str) -> dict:
    """The discovery curve of one representative fit per model (the lowest stored seed)."""
    out = {}
    for m in settings["models"]:
        ok = sorted((u for u in units if u["experiment"] == experiment and u["model"] == m
                     and u["status"] == "ok"), key=lambda u: u["seed"])
        if ok:
            out[m] = {"seed": ok[0]["seed"], **ok[0]["payload"]["curve"]}
    return out


def _histograms(units, settings, ref) -> dict:
    models = {}
    for m in settings["models"]:
        ok = [u for u in units if u["experiment"] == "class1" and u["model"] == m
              and u["status"] == "ok"]
        if ok:
            counts = np.mean([u["payload"]["energy_hist"] for u in ok], axis=0)
            models[m] = {"n_fits": len(ok), "counts": counts.tolist()}
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
        ok = [u for u in units if u["experiment"] == "class1" and u["model"] == m
              and u["status"] == "ok"]
        if ok:
            models[m] = np.mean([u["payload"]["site_distribution"] for u in ok], axis=0).tolist()
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
    """The results document (results.json) from the store."""
    from elpagen.study import plan

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
            "class1": _experiment(units, "class1", settings, ref, 1, s["class1"]),
            "class5": _experiment(units, "class5", settings, ref, 5, s["class5"]),
            "training_size": _training_size(units, settings, ref),
            "cost": _cost(units, settings, ref),
        },
        "discovery": {"class1": _curves(units, settings, "curve1"),
                      "class5": _curves(units, settings, "class5")},
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


# --------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    # Every figure is laid out by its constrained layout; bbox_inches="tight" would measure
    # every artist a second time (seconds per figure with log axes on a busy machine).
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _no_data(ax, text: str = "no data yet") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _label(m: str) -> str:
    return MODEL_LABELS.get(m, m)


def fig_class_distribution(r: Mapping[str, Any], path: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.8), layout="constrained")
    sizes = r["oracle"]["class_sizes"]
    counts = r["training_set"]["class_counts"]
    edges = r["training_set"]["class_edges"]
    if sizes and counts:
        x = np.arange(1, 11)
        w = 0.4
        ax.bar(x - w / 2, sizes, w, label=f"full space (reference energies, "
                                          f"{int(np.sum(sizes)):,} compositions)", color="C0")
        ax.bar(x + w / 2, counts, w, label=f"training set (DFT, {int(np.sum(counts)):,} "
                                           "compositions)", color="C1")
        ax.set_yscale("log")
        ax.set_ylim(top=max(max(sizes), 1) * 40)  # headroom for the legend
        ax.set_xticks(x, [f"{k}\n{edges[k - 1]:.2f}\nto {edges[k]:.2f}" for k in x], fontsize=8)
        ax.set_xlabel("energy class (1 = most stable) and its range in eV/atom")
        ax.set_ylabel("compositions (log scale)")
        ax.legend(loc="upper left", fontsize=9, ncol=2)
        ax.grid(axis="y", alpha=0.3)
    else:
        _no_data(ax)
    ax.set_title("Energy classes: full composition space vs training set")
    _save(fig, path)
    return ("Number of compositions per energy class in the full space of 1,974,024 "
            "Elpasolites (classes of the reference energies) and in the augmented DFT training "
            "set, log scale. Class 1 is the minority class, class 5 the majority class.")


def fig_reference_js(r: Mapping[str, Any], path: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    t = np.array(r["reference_js"], dtype=float) if r["reference_js"] else None
    if t is not None and t.size:
        im = ax.imshow(np.ma.masked_invalid(t), cmap="viridis_r", vmin=0, vmax=1)
        for i in range(10):
            for j in range(10):
                if np.isfinite(t[i, j]):
                    ax.text(j, i, f"{t[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if t[i, j] > 0.55 else "black")
        ax.set_xticks(range(10), [str(k) for k in range(1, 11)])
        ax.set_yticks(range(10), [str(k) for k in range(1, 11)])
        ax.set_xlabel("full-space class (reference energies)")
        ax.set_ylabel("training-set class (DFT)")
        fig.colorbar(im, ax=ax, label="Jensen–Shannon distance of p(Z|S)")
    else:
        _no_data(ax)
    ax.set_title("Reference JS distances: training class vs full-space class")
    _save(fig, path)
    return ("Jensen–Shannon distance between the per-site element distributions p(Z|S) of "
            "each training-set class (rows) and each full-space class (columns). The diagonal "
            "shows how well a generator that reproduced the training class exactly would do; "
            "0.25 or less counts as good agreement.")


def _model_grid(plt, n_models: int, figsize=(15, 8.5)):
    ncols = 3
    nrows = max(1, math.ceil((n_models + 1) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False,
                             layout="constrained")
    return fig, axes.ravel()


def fig_discovery(r: Mapping[str, Any], path: Path, which: str) -> str:
    plt = _plt()
    models = r["settings"]["models"]
    curves = r["discovery"][which]
    target = 1 if which == "class1" else 5
    fig, axes = _model_grid(plt, len(models))
    cmap = plt.get_cmap("viridis")
    handles = None
    for ax, m in zip(axes, models, strict=False):
        c = curves.get(m)
        ax.set_title(f"{_label(m)}" + (f" (seed {c['seed']})" if c else ""))
        if not c:
            _no_data(ax)
            continue
        n = np.asarray(c["n_samples"], dtype=float)

        def pos(y):
            y = np.asarray(y, dtype=float)
            return np.where(y > 0, y, np.nan)  # log axis: 0 is not drawable

        novel = np.asarray(c["novel"], dtype=float)
        for k in range(10):
            ax.plot(n, pos(novel[:, k]), color=cmap(k / 9),
                    lw=2.6 if k + 1 == target else 1.1,
                    label=f"novel, class {k + 1}" + (" (target)" if k + 1 == target else ""))
        ax.plot(n, pos(c["rediscovered"]), "k--", lw=1.5, label="rediscoveries (training set)")
        ax.plot(n, pos(c["repeated"]), color="crimson", ls=":", lw=1.8, label="repetitions")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("valid samples drawn (log scale)")
        ax.set_ylabel("count (log scale)")
        ax.grid(alpha=0.3, which="major")
        handles = ax.get_legend_handles_labels()
    for ax in axes[len(models):]:
        ax.axis("off")
    if handles and len(axes) > len(models):
        axes[len(models)].legend(*handles, loc="center", fontsize=9, frameon=False)
    n_max = r["settings"]["samples"]["curve_class1" if which == "class1" else "class5"]
    fig.suptitle(f"Discovery curves, target class {target}, up to {n_max:,} valid samples "
                 "(one fit per model)")
    _save(fig, path)
    return (f"Cumulative discoveries while sampling class {target} from one fit per model (the "
            f"first seed), up to {n_max:,} valid samples, both axes log-scaled: novel "
            "compositions (first generated, not in the training set) split by the reference "
            "class they fall in (the target class drawn thick), rediscoveries of training "
            "compositions, and repetitions of earlier samples.")


def fig_energy_histograms(r: Mapping[str, Any], path: Path) -> str:
    plt = _plt()
    h = r["energy_histograms"]
    models = r["settings"]["models"]
    fig, axes = _model_grid(plt, len(models), figsize=(15, 8))
    edges = np.asarray(h["edges"], dtype=float)
    train = np.asarray(h["training"], dtype=float)
    lo, hi = h["class1_window"]
    handles = None
    for ax, m in zip(axes, models, strict=False):
        mh = h["models"].get(m)
        ax.set_title(_label(m))
        if mh is None or edges.size < 2:
            _no_data(ax)
            continue
        counts = np.asarray(mh["counts"], dtype=float)
        ax.axvspan(lo, hi, color="green", alpha=0.12, label="class 1 energy range")
        ax.stairs(train / max(train.sum(), 1), edges, fill=True, color="0.75",
                  label="training set (DFT energies)")
        ax.stairs(counts / max(counts.sum(), 1e-12), edges, color=MODEL_COLORS.get(m, "C0"),
                  lw=2, label="unique generations (reference energies)")
        ax.set_xlabel("formation energy (eV/atom)")
        ax.set_ylabel(f"fraction per {h['bin_width']:g} eV/atom bin")
        ax.text(0.98, 0.95, f"{counts.sum():,.0f} unique per fit\n(mean of {mh['n_fits']})",
                transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.grid(alpha=0.3)
        handles = ax.get_legend_handles_labels()
    for ax in axes[len(models):]:
        ax.axis("off")
    if handles and len(axes) > len(models):
        axes[len(models)].legend(*handles, loc="center", fontsize=9, frameon=False)
    fig.suptitle("Reference energies of the unique class-1 generations vs the training set")
    _save(fig, path)
    n = r["settings"]["samples"]["class1"]
    return (f"Histograms ({h['bin_width']:g} eV/atom bins) of the reference formation energies "
            f"of the distinct compositions generated for class 1 ({n:,} valid samples per fit, "
            "counts averaged over the fits), normalised to fractions, against the DFT energies "
            "of the training set. The green band is the class-1 energy range; mass to its right "
            "is generated outside the requested class.")


def fig_site_distributions(r: Mapping[str, Any], path: Path) -> str:
    plt = _plt()
    from matplotlib.colors import PowerNorm

    sd = r["site_distributions"]
    rows = [("full space, class 1", sd["space"]), ("training set, class 1", sd["training"])]
    js = r["experiments"]["class1"]["models"]
    for m in r["settings"]["models"]:
        if m in sd["models"]:
            mean = js.get(m, {}).get("summary", {}).get("js_distance", {}).get("mean")
            extra = f" (JS distance to the full space: {mean:.3f})" if mean is not None else ""
            rows.append((f"{_label(m)}{extra}", sd["models"][m]))
        else:
            rows.append((f"{_label(m)} (no data yet)", None))
    fig, axes = plt.subplots(len(rows), 1, figsize=(13, 1.45 * len(rows) + 1.0), squeeze=False,
                             layout="constrained")
    axes = axes.ravel()
    # Square-root colour scale: fluorine fills site D almost alone in class 1 (p ~ 1), which
    # would wash out every other element on a linear scale.
    norm = PowerNorm(0.5, vmin=0.0, vmax=1.0)
    im = None
    elements = sd["elements"]
    sites = sd["sites"]
    for ax, (title, a) in zip(axes, rows, strict=True):
        ax.set_title(title, fontsize=10, loc="left")
        if a is None or not len(a):
            _no_data(ax)
            continue
        im = ax.imshow(np.asarray(a, dtype=float), aspect="auto", cmap="magma_r", norm=norm,
                       interpolation="nearest")
        ax.set_yticks(range(len(sites)), sites, fontsize=8)
        ax.set_xticks(range(len(elements)), elements, fontsize=7)
        ax.tick_params(axis="x", length=2, pad=1)
    if im is not None:
        fig.colorbar(im, ax=list(axes), label="p(Z | site), square-root scale",
                     fraction=0.025, pad=0.01)
    fig.suptitle("Per-site element distributions p(Z|S), class 1")
    _save(fig, path)
    return ("Per-site element distributions p(Z|S) (rows: sites A, B, C, D; columns: the 39 "
            "elements H … Bi; square-root colour scale) of class 1 in the full space, of the "
            "class-1 training compositions, and of the class-1 samples of every model (mean over "
            "fits; repeats count). The value in each title is the model's mean JS distance to "
            "the full-space class-1 distribution.")


def fig_training_size(r: Mapping[str, Any], path: Path) -> str:
    plt = _plt()
    ts = r["experiments"]["training_size"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    panels = (("precision", "precision (class 1)"), ("coverage", "coverage (class 1)"),
              ("js_distance", "JS distance to full-space class 1"))
    any_data = False
    for ax, (key, label) in zip(axes, panels, strict=True):
        for m, me in ts["models"].items():
            pts = [(b["size"], b["summary"][key]["mean"], b["summary"][key]["std"] or 0.0)
                   for b in me["by_size"] if b["n_fits"] and b["summary"][key]["mean"] is not None]
            if not pts:
                continue
            any_data = True
            x, mu, sd = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
            col = MODEL_COLORS.get(m, None)
            ax.plot(x, mu, "o-", color=col, label=_label(m))
            ax.fill_between(x, mu - sd, mu + sd, color=col, alpha=0.18, lw=0)
        if key == "coverage":
            ax.axhline(ts["ideal_coverage"], color="k", ls="--", lw=1,
                       label="ideal coverage (uniform draws from class 1)")
        if key == "js_distance":
            ax.axhline(0.25, color="0.4", ls=":", lw=1, label="0.25: good agreement")
        ax.set_xscale("log")
        ax.set_xlabel("training-set size (compositions, log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    if any_data:
        axes[1].legend(fontsize=8, loc="best")
        axes[2].legend(fontsize=8, loc="best")
    else:
        for ax in axes:
            _no_data(ax)
    fig.suptitle(f"Training-set size study: class 1, {ts['samples']:,} valid samples per fit")
    _save(fig, path)
    return (f"Precision, coverage and JS distance for class 1 ({ts['samples']:,} valid samples "
            f"per fit) against the size of the training set: random subsets of "
            f"{', '.join(f'{n:,}' for n in ts['sizes'][:-1])} compositions (half of them original "
            "compositions, half their A/B swaps; one subset per size) and the full set. Lines are "
            "means over the fits, bands mean ± standard deviation.")


def fig_cost(r: Mapping[str, Any], path: Path) -> str:
    plt = _plt()
    cost = r["experiments"]["cost"]
    fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
    rows = [(m, me["summary"]) for m, me in cost["models"].items()
            if me["n_fits"] and me["summary"]["ratio"]["mean"] is not None]
    if rows:
        x = np.arange(len(rows))
        mu = np.array([s["ratio"]["mean"] for _, s in rows])
        sd = np.array([s["ratio"]["std"] or 0.0 for _, s in rows])
        mu_t = np.array([s["ratio_with_training"]["mean"] or 0.0 for _, s in rows])
        sd_t = np.array([s["ratio_with_training"]["std"] or 0.0 for _, s in rows])
        pos = np.concatenate([mu[mu > 0], mu_t[mu_t > 0]])
        floor = float(min(pos.min(), 1.0)) / 4 if pos.size else 0.1
        # Log axis: a model that found nothing has ratio 0, drawn as an empty slot and labelled.
        colors = [MODEL_COLORS.get(m, "C0") for m, _ in rows]
        w = 0.38
        ax.bar(x - w / 2, np.where(mu > 0, mu, np.nan), w, yerr=np.minimum(sd, mu * 0.999),
               capsize=4, color=colors, label="ratio: random / n_checks")
        ax.bar(x + w / 2, np.where(mu_t > 0, mu_t, np.nan), w,
               yerr=np.minimum(sd_t, mu_t * 0.999), capsize=4, color=colors, alpha=0.45,
               hatch="//", edgecolor="k", label="ratio_with_training: random / (n_train + "
               "n_checks), the paper's yardstick")
        ax.axhline(1.0, color="k", ls="--", lw=1, label="as costly as random screening")
        ax.set_yscale("log")
        top = float(max(pos.max(), 1.0)) if pos.size else 1.0
        ax.set_ylim(floor, top * 8)
        ax.set_xticks(x, [_label(m) for m, _ in rows])
        ax.set_ylabel("random-screening checks / model checks (log scale)")
        for i, (_, s) in enumerate(rows):
            label = f"{s['n_checks']['mean']:,.0f} checks\n{s['found']['mean']:,.1f} in class 1"
            ax.annotate(label,
                        (i, mu[i] if mu[i] > 0 else floor), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 4), textcoords="offset points")
        ax.legend(fontsize=9, loc="upper left")
        ax.grid(axis="y", alpha=0.3)
    else:
        _no_data(ax)
    ax.set_title("Cost of discovery: DFT checks against random screening (class 1)")
    _save(fig, path)
    return ("Cost of discovery for class 1: every distinct generated composition needs one DFT "
            "check (n_checks); found is how many of them lie in class 1. Random screening "
            "(without replacement) needs on average found · (N_space + 1) / (N_class1 + 1) "
            "checks to find as many. Solid bars (ratio): that number divided by n_checks; "
            "hatched bars (ratio_with_training, the published paper's yardstick): divided by "
            "n_train + n_checks, also charging the DFT calculations of the training set the "
            "model was fitted on (none for random screening). Mean ± std over fits, log scale; "
            "above 1 the model is cheaper than random screening. Labels: mean checks and "
            "class-1 finds per fit.")


def make_figures(r: Mapping[str, Any], directory: Path) -> list[dict[str, str]]:
    """Write every figure; returns [{file, title, caption}] in report order."""
    specs = (
        ("class_distribution.png", "Class distributions", fig_class_distribution),
        ("reference_js.png", "Reference JS table", fig_reference_js),
        ("discovery_class1.png", "Discovery curves, class 1",
         lambda r, p: fig_discovery(r, p, "class1")),
        ("discovery_class5.png", "Discovery curves, class 5",
         lambda r, p: fig_discovery(r, p, "class5")),
        ("energy_histograms_class1.png", "Energy histograms, class 1", fig_energy_histograms),
        ("site_distributions_class1.png", "Per-site element distributions, class 1",
         fig_site_distributions),
        ("training_size.png", "Training-set size", fig_training_size),
        ("cost_of_discovery.png", "Cost of discovery", fig_cost),
    )
    out = []
    for name, title, fn in specs:
        caption = fn(r, directory / name)
        out.append({"file": name, "title": title, "caption": caption})
    return out


# --------------------------------------------------------------------------- HTML


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
tr.bound td{font-style:italic;background:#fafafa}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
.warn{background:#fff4e0;border:1px solid #f0c070;padding:.6em 1em}
.ok{background:#eef8ee;border:1px solid #9c9;padding:.6em 1em}
code,pre{font-size:.85em;background:#f6f6f6}pre{padding:.5em;overflow-x:auto}
.small{font-size:.85em;color:#555}
"""


def _pm(s: Mapping[str, Any] | None, digits: int = 4, pct: bool = False) -> str:
    if not s or s.get("mean") is None:
        return "–"
    f = 100.0 if pct else 1.0
    std = s.get("std") or 0.0
    return f"{s['mean'] * f:.{digits}f} ± {std * f:.{digits}f}"


def _pm_int(s: Mapping[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "–"
    return f"{s['mean']:,.0f} ± {(s.get('std') or 0.0):,.0f}"


def _metrics_table(e: Mapping[str, Any]) -> str:
    head = ("<tr><th>model</th><th>fits</th><th>precision</th><th>precision (neighbours)</th>"
            "<th>coverage</th><th>coverage (neighbours)</th><th>JS distance</th>"
            "<th>valid fraction</th><th>unique</th><th>novel</th><th>fit / sample [s]</th></tr>")
    rows = []
    for m, me in e["models"].items():
        s = me["summary"]
        times = "–"
        if me["per_seed"]:
            fit = np.mean([p.get("fit_seconds") or 0.0 for p in me["per_seed"]])
            smp = np.mean([p.get("sample_seconds") or 0.0 for p in me["per_seed"]])
            times = f"{fit:.1f} / {smp:.1f}"
        fails = f" <span class='small'>({len(me['failed'])} failed)</span>" if me["failed"] else ""
        rows.append(
            f"<tr><td>{html.escape(_label(m))}{fails}</td><td>{me['n_fits']}</td>"
            f"<td>{_pm(s['precision'])}</td><td>{_pm(s['precision_neighbor'])}</td>"
            f"<td>{_pm(s['coverage'], 5)}</td><td>{_pm(s['coverage_neighbor'], 5)}</td>"
            f"<td>{_pm(s['js_distance'])}</td><td>{_pm(s.get('valid_fraction'), 3)}</td>"
            f"<td>{_pm_int(s.get('n_unique'))}</td><td>{_pm_int(s.get('n_novel'))}</td>"
            f"<td>{times}</td></tr>"
        )
    rows.append(
        f"<tr class='bound'><td>ideal coverage bound</td><td></td><td></td><td></td>"
        f"<td>{e['ideal_coverage']:.5f}</td><td></td><td></td><td></td><td></td><td></td>"
        "<td></td></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _size_table(ts: Mapping[str, Any]) -> str:
    head = "<tr><th>model</th><th>size</th><th>fits</th><th>precision</th><th>coverage</th>" \
           "<th>JS distance</th></tr>"
    rows = []
    for m, me in ts["models"].items():
        for b in me["by_size"]:
            s = b["summary"]
            rows.append(f"<tr><td>{html.escape(_label(m))}</td><td>{b['size']:,}</td>"
                        f"<td>{b['n_fits']}</td><td>{_pm(s['precision'])}</td>"
                        f"<td>{_pm(s['coverage'], 5)}</td><td>{_pm(s['js_distance'])}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _cost_table(c: Mapping[str, Any]) -> str:
    head = ("<tr><th>model</th><th>fits</th><th>DFT checks n<sub>checks</sub> (unique "
            "generations)</th><th>training set n<sub>train</sub></th>"
            "<th>found in class 1</th><th>random-screening checks for as many</th>"
            "<th>ratio = random / n<sub>checks</sub></th>"
            "<th>ratio_with_training = random / (n<sub>train</sub> + n<sub>checks</sub>)</th>"
            "</tr>")
    rows = []
    for m, me in c["models"].items():
        s = me["summary"]
        rows.append(f"<tr><td>{html.escape(_label(m))}</td><td>{me['n_fits']}</td>"
                    f"<td>{_pm_int(s['n_checks'])}</td><td>{_pm_int(s['n_train'])}</td>"
                    f"<td>{_pm_int(s['found'])}</td>"
                    f"<td>{_pm_int(s['random_checks'])}</td><td>{_pm(s['ratio'], 2)}</td>"
                    f"<td>{_pm(s['ratio_with_training'], 2)}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _kv_table(d: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td style='text-align:left'>"
                   f"{html.escape(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
                   for k, v in d.items())
    return f"<table>{rows}</table>"


def _figure(figs: Mapping[str, Mapping[str, str]], name: str) -> str:
    f = figs[name]
    return (f"<figure><img src='{html.escape(f['file'])}' alt='{html.escape(f['title'])}'>"
            f"<figcaption><b>{html.escape(f['title'])}.</b> {html.escape(f['caption'])}"
            "</figcaption></figure>")


def _finished(run: Mapping[str, Any]) -> str:
    if run.get("finished"):
        return str(run["finished"])
    return "unknown (process gone)" if run.get("end_unknown") else "–"


def render_html(r: Mapping[str, Any]) -> str:
    st = r["settings"]
    figs = {f["file"]: f for f in r["figures"]}
    ex = r["experiments"]
    prog = r["progress"]
    if r["complete"]:
        failed = f" ({prog['failed']} failed, see the tables)" if prog["failed"] else ""
        status = f"<p class='ok'>Complete: all {prog['planned']} work units are stored{failed}.</p>"
    else:
        status = (f"<p class='warn'>Incomplete: {prog['done']} of {prog['planned']} work units "
                  "are stored. Rerun the same <code>elpagen study</code> command to resume; "
                  "missing results show as “no data yet”.</p>")
    o = r["oracle"]
    mae = f"{o['holdout_mae']:.4f} eV/atom" if o.get("holdout_mae") is not None else "–"
    samples = st["samples"]
    configs = "".join(f"<tr><td>{html.escape(m)}</td><td style='text-align:left'><code>"
                      f"{html.escape(json.dumps(c))}</code></td></tr>"
                      for m, c in st["model_configs"].items())
    runs = "".join(
        f"<tr><td>{x['id']}</td><td>{html.escape(str(x['started']))}</td>"
        f"<td>{html.escape(_finished(x))}</td><td>{html.escape(str(x['status']))}"
        f"</td><td>{x['new_units']}</td><td>{(x['seconds'] or 0):.0f}</td></tr>"
        for x in r["runs"]
    )
    total = sum((x["seconds"] or 0) for x in r["runs"])
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>elpagen study report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Generative models in Elpasolite composition space: study report</h1>",
        f"<p class='small'>{html.escape(st['protocol'])} protocol"
        f"{' (quick budgets: a first look, not results)' if st['quick'] else ''}, "
        f"{st['seeds']} fit(s) per model, elpagen {html.escape(st['elpagen_version'])}; "
        f"report generated {html.escape(r['generated'])}; total run time {total / 60:.1f} min "
        f"over {len(r['runs'])} run(s).</p>",
        status,
        "<p>Metrics follow docs/method.md section 5: precision counts repeats; coverage "
        "counts distinct compositions of the class over the class size in the full space; the "
        "JS distance compares per-site element distributions of the samples (repeats count, "
        "as a user drawing N samples sees them) with those of the class in the full space "
        "(0 identical, 1 disjoint, ≤ 0.25 good). All values are mean ± standard deviation over "
        "independent fits (seeds).</p>",
        "<h2>1. The composition space and the training set</h2>",
        _figure(figs, "class_distribution.png"),
        _figure(figs, "reference_js.png"),
        f"<h2>2. Minority class 1: {samples['class1']:,} valid samples per fit</h2>",
        _metrics_table(ex["class1"]),
        f"<p class='small'>Class 1 holds {ex['class1']['class_size']:,} compositions; the "
        f"ideal-coverage bound 1 − (1 − 1/N<sub>c</sub>)<sup>N</sup> is the expected coverage "
        f"of a generator drawing N = {samples['class1']:,} samples uniformly from class 1 "
        "itself. Times are per fit (an ensemble's training time is shared among its seeds).</p>",
        f"<h2>3. Majority class 5: {samples['class5']:,} valid samples per fit</h2>",
        _metrics_table(ex["class5"]),
        f"<p class='small'>Class 5 holds {ex['class5']['class_size']:,} compositions.</p>",
        "<h2>4. Discovery curves</h2>",
        _figure(figs, "discovery_class1.png"),
        _figure(figs, "discovery_class5.png"),
        "<h2>5. Energies of the generated class-1 compositions</h2>",
        _figure(figs, "energy_histograms_class1.png"),
        "<h2>6. Per-site element distributions</h2>",
        _figure(figs, "site_distributions_class1.png"),
        "<h2>7. Training-set size</h2>",
        _figure(figs, "training_size.png"),
        _size_table(ex["training_size"]),
        "<h2>8. Cost of discovery</h2>",
        _figure(figs, "cost_of_discovery.png"),
        _cost_table(ex["cost"]),
        "<p class='small'>Formula: n<sub>checks</sub> = distinct compositions generated in the "
        "class-1 experiment (each needs one DFT calculation); found = those whose reference "
        "class is 1. Random screening draws compositions of the space without replacement; "
        "the expected number of draws to find <i>found</i> members of class 1 is the mean of "
        "the negative hypergeometric distribution, found · (N<sub>space</sub> + 1) / "
        "(N<sub>class 1</sub> + 1), with N<sub>space</sub> = "
        f"{(ex['cost']['n_space'] or 0):,} and N<sub>class 1</sub> = "
        f"{(ex['cost']['class_size'] or 0):,}. Two ratios, above 1 the model needs fewer DFT "
        "calculations: <b>ratio</b> = random-screening checks / n<sub>checks</sub> counts only "
        "the verification of the generations; <b>ratio_with_training</b> = random-screening "
        "checks / (n<sub>train</sub> + n<sub>checks</sub>) also charges the DFT calculations of "
        "the n<sub>train</sub> training compositions the model was fitted on (0 for random "
        "screening, which learns nothing from them). The second is the published paper's "
        "yardstick (its “factor of 50” for the GAN: about 1.22 M / (21,112 + 4,500)); a "
        "rediscovered training composition counts in both terms, as in the paper.</p>",
        "<h2>9. Settings, reference energies, environment</h2>",
        _kv_table({
            "protocol": st["protocol"], "quick": st["quick"], "seeds": st["seed_values"],
            "samples": st["samples"], "training subsets": st["train_sizes"],
            "subset seed": st["subset_seed"], "training set": f"{st['n_train']:,} compositions",
            "data sha256": st["data_sha256"],
            "reference energies": f"Laplacian-kernel ridge regression, sigma = "
                                  f"{o['sigma']:g}, lambda = {o['lambda']:g}, held-out MAE {mae}",
        }),
        f"<table><tr><th>model</th><th>configuration</th></tr>{configs}</table>",
        "<h3>Environment (latest run)</h3>",
        _kv_table(r["environment"]),
        "<h3>Runs</h3>",
        "<table><tr><th>run</th><th>started</th><th>finished</th><th>status</th>"
        f"<th>new units</th><th>seconds</th></tr>{runs}</table>",
        "<p class='small'>All numbers are also in <a href='results.json'>results.json</a>.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------- entry point


def write_report(directory: str | Path) -> dict[str, Any]:
    """Rebuild results.json, every figure and report.html from ``DIR/study.sqlite``."""
    d = Path(directory)
    with Store.open_readonly(d) as store:
        results = collect(store)
    results["figures"] = make_figures(results, d)
    problems = check_results(results)
    if problems:  # a bug, not a user error: never write a report that breaks the schema
        raise RuntimeError(f"results.json does not match its schema: {problems[:3]}")
    atomic_write_bytes(d / "results.json", dumps(results, indent=1).encode())
    atomic_write_bytes(d / "report.html", render_html(results).encode())
    return {
        "report": str(d / "report.html"),
        "results": str(d / "results.json"),
        "figures": [f["file"] for f in results["figures"]],
        "planned": results["progress"]["planned"],
        "done": results["progress"]["done"],
        "complete": results["complete"],
    }
