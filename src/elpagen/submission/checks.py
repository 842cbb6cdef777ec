"""What a submission's numbers must satisfy among themselves (beyond the schema), checked
when the file loads: a forged file that carries no samples is caught here; one with samples
is also scored again (:mod:`elpagen.leaderboard_verify`).

Each seed: ``n_valid <= n_samples``, ``n_novel <= n_unique <= n_valid``, precision times
``n_valid`` a whole number of samples, coverage times the class size a whole number of
compositions and no more than ``n_unique``, the two precisions summing to at most 1. The
summary: the mean and standard deviation (ddof = 1) of the per-seed values, means of
fractions in [0, 1]; a frontier's summary is its fitted knob value's point and its
hypervolume the mean of its seeds'. Generations: one per seed, in the order of the seeds,
as many valid samples as the seed reports, each decodable (:mod:`elpagen.generations`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from elpagen import generations

#: Relative tolerance of stated numbers (a float written in full, or to 6 digits).
REL_TOL = 1e-6
ABS_TOL = 1e-9
#: Metrics that are fractions.
_UNIT = ("precision", "precision_neighbor", "coverage", "coverage_neighbor", "js_distance")


def close(a: float, b: float) -> bool:
    """Whether a stated number agrees with its recomputation (module tolerance)."""
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (ddof = 1; 0 for one value), as metrics.aggregate."""
    a = np.asarray(values, dtype=np.float64)
    return float(np.mean(a)), (float(np.std(a, ddof=1)) if a.size > 1 else 0.0)


def _whole(x: float, n: int) -> bool:
    """Whether ``x`` is a fraction k / n of a whole k (within rounding)."""
    k = x * n
    return abs(k - round(k)) <= max(REL_TOL * n, 1e-6)


def _seed(i: int, r: Mapping[str, Any], class_size: int) -> list[str]:
    at = f"$.per_seed[{i}]"
    out = []
    if r["n_valid"] > r["n_samples"]:
        out.append(f"{at}: n_valid {r['n_valid']} is more than n_samples {r['n_samples']}")
    if r["n_unique"] > r["n_valid"]:
        out.append(f"{at}: n_unique {r['n_unique']} is more than n_valid {r['n_valid']}")
    if r["n_novel"] > r["n_unique"]:
        out.append(f"{at}: n_novel {r['n_novel']} is more than n_unique {r['n_unique']}")
    n = r["n_valid"]
    for k in ("precision", "precision_neighbor"):
        if n and not _whole(r[k], n):
            out.append(f"{at}.{k}: {r[k]} is no whole number of the {n} samples")
    if r["precision"] + r["precision_neighbor"] > 1 + REL_TOL:
        out.append(f"{at}: precision and precision_neighbor sum to more than 1")
    if class_size and not _whole(r["coverage"], class_size):
        out.append(f"{at}.coverage: {r['coverage']} is no whole number of the class's "
                   f"{class_size} compositions")
    elif round(r["coverage"] * class_size) > r["n_unique"]:
        out.append(f"{at}.coverage: {r['coverage']} needs more distinct samples of the class "
                   f"than n_unique {r['n_unique']}")
    return out


def _summary(doc: Mapping[str, Any]) -> list[str]:
    out = []
    for k, m in doc["summary"].items():
        if m is None:
            continue
        if k in _UNIT and not 0 <= m["mean"] <= 1:
            out.append(f"$.summary.{k}.mean: {m['mean']} is not in [0, 1]")
        elif m["mean"] < 0:
            out.append(f"$.summary.{k}.mean: {m['mean']} is negative")
    rows = doc["per_seed"]
    if rows:
        for k, m in doc["summary"].items():
            if m is None or k not in rows[0]:
                continue
            mean, std = mean_std([r[k] for r in rows])
            for what, stated, want in (("mean", m["mean"], mean), ("std", m["std"], std)):
                if not close(stated, want):
                    out.append(f"$.summary.{k}.{what}: {stated} is not the {what} of the "
                               f"seeds' values ({want:.6g})")
    fr = doc.get("frontier")
    if fr is not None:
        point = next((p for p in fr["points"] if p["knob"] == fr["default"]), fr["points"][0])
        for k in ("precision", "coverage", "js_distance"):
            if doc["summary"][k] != point[k]:
                out.append(f"$.summary.{k}: not the frontier's point at its fitted knob value")
        for i, p in enumerate(fr["points"]):
            for k in ("precision", "coverage", "js_distance"):
                if not 0 <= p[k]["mean"] <= 1:
                    out.append(f"$.frontier.points[{i}].{k}.mean: {p[k]['mean']} is not in "
                               "[0, 1]")
        hv = fr["hypervolume_per_seed"]
        if hv and not close(fr["hypervolume"]["mean"], mean_std(hv)[0]):
            out.append("$.frontier.hypervolume.mean: not the mean of hypervolume_per_seed")
    return out


def _generations(doc: Mapping[str, Any]) -> list[str]:
    g = doc.get("generations")
    if g is None:
        return []
    seeds = doc["task"]["seeds"]
    got = [s["seed"] for s in g["per_seed"]]
    if got != seeds:
        return [f"$.generations.per_seed: seeds {got} differ from $.task.seeds {seeds}"]
    out = []
    for i, (s, r) in enumerate(zip(g["per_seed"], doc["per_seed"] or [None] * len(got),
                                   strict=True)):
        at = f"$.generations.per_seed[{i}]"
        if s["n_distinct"] > s["n_valid"] or s["n_valid"] > s["n_drawn"]:
            out.append(f"{at}: needs n_distinct <= n_valid <= n_drawn")
            continue
        if r is not None and (s["n_valid"], s["n_drawn"], s["n_distinct"]) != (
                r["n_valid"], r["n_samples"], r["n_unique"]):
            out.append(f"{at}: n_valid, n_drawn, n_distinct differ from $.per_seed[{i}]'s "
                       "n_valid, n_samples, n_unique")
            continue
        try:
            generations.decode(s, at)
        except generations.GenerationsError as e:
            out.append(str(e))
    return out


def consistency(doc: Mapping[str, Any]) -> list[str]:
    """Every problem of a schema-valid submission document's numbers (module doc)."""
    out = []
    seeds = doc["task"]["seeds"]
    got = [r["seed"] for r in doc["per_seed"]]
    if got and got != seeds:
        out.append(f"$.per_seed: seeds {got} differ from $.task.seeds {seeds}")
    if not got and doc["frontier"] is None:
        out.append("$.per_seed: empty (only a frontier submission may have no seeds)")
    if out:
        return out
    class_size = doc["reference"]["class_size"]
    for i, r in enumerate(doc["per_seed"]):
        out += _seed(i, r, class_size)
    return out + _summary(doc) + _generations(doc)
