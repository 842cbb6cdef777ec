"""Results of ``elpagen search``: the ranked Pareto front, its table, plot and export.

The front (js minimised, novel maximised) is ranked by :data:`EXPORT_RULE`;
:func:`export_config` writes a ranked point as the config file that
``elpagen train --config`` reads.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elpagen.errors import UsageError
from elpagen.io import atomic_write, to_jsonable
from elpagen.search.spec import SPACES, TARGET_CLASS, model_class, params_to_overrides
from elpagen.search.storage import trial_counts
from elpagen.version import __version__

EXPORT_RULE = (
    "Pareto front (js minimised, novel maximised) ranked by the Euclidean distance to the "
    "ideal point (min js, max novel) after min-max normalising both objectives over the "
    "front; ties go to the lower trial number; rank 1 is the closest"
)


def pareto_front(study: Any) -> list[Any]:
    """Completed trials on the Pareto front (js minimised, novel maximised)."""
    return list(study.best_trials)


def rank_front(front: Sequence[Any]) -> list[tuple[Any, float]]:
    """(trial, distance) pairs, closest to the ideal point first (see EXPORT_RULE)."""
    if not front:
        return []
    v = np.array([t.values for t in front], dtype=np.float64)
    js, novel = v[:, 0], v[:, 1]

    def gap(x: np.ndarray, best: float) -> np.ndarray:
        # Normalised distance from the best value over the front; 0 when all are equal.
        span = x.max() - x.min()
        return np.abs(x - best) / span if span > 0 else np.zeros_like(x)

    # The ideal point: js at its minimum over the front, novel at its maximum.
    d = np.hypot(gap(js, js.min()), gap(novel, novel.max()))
    order = sorted(range(len(front)), key=lambda i: (round(float(d[i]), 12), front[i].number))
    return [(front[i], float(d[i])) for i in order]


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def format_front(study: Any, ranked: list[tuple[Any, float]], shown_url: str) -> str:
    """The study's header lines and the ranked front as a text table."""
    attrs = study.user_attrs
    n = trial_counts(study)
    names = [d.name for d in SPACES.get(attrs["model"], ())]
    head = f"{'rank':>4} {'trial':>6} {'JS train c1':>12} {'novel':>9} {'dist':>6}  settings"
    lines = [
        f"study {study.study_name} ({attrs['model']}, {attrs['protocol']} protocol"
        f"{', quick' if attrs.get('quick') else ''}, {attrs['samples']:,} class-1 samples "
        f"per trial) in {shown_url}",
        f"{n['COMPLETE']} complete, {n['FAIL']} failed, {n['PRUNED']} pruned, "
        f"{n['RUNNING']} running, {n['WAITING']} waiting; Pareto front of {len(ranked)}",
        f"ranking: {EXPORT_RULE}",
        head,
        "-" * len(head),
    ]
    for r, (t, d) in enumerate(ranked, start=1):
        settings = " ".join(f"{k}={_fmt_value(t.params[k])}" for k in names if k in t.params)
        lines.append(
            f"{r:>4} {t.number:>6} {t.values[0]:>12.4f} {int(t.values[1]):>9,} {d:>6.3f}  "
            f"{settings}"
        )
    return "\n".join(lines)


def plot_front(study: Any, ranked: list[tuple[Any, float]], path: Path) -> Path:
    """Scatter of all completed trials with the Pareto front highlighted (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.scatter([t.values[1] for t in done], [t.values[0] for t in done], s=18,
               color="0.65", label=f"all completed trials ({len(done)})")
    front = sorted((t for t, _ in ranked), key=lambda t: t.values[1])
    ax.plot([t.values[1] for t in front], [t.values[0] for t in front], "o-",
            color="tab:red", ms=6, lw=1, label=f"Pareto front ({len(front)})")
    if ranked:
        best = ranked[0][0]
        ax.scatter([best.values[1]], [best.values[0]], s=160, facecolors="none",
                   edgecolors="black", lw=1.5, label=f"rank 1 (trial {best.number})", zorder=5)
    ax.set_xlabel("unique generated compositions not in the training set (maximise)")
    ax.set_ylabel("JS distance to training class 1 (minimise)")
    ax.set_title(f"{study.study_name}: {study.user_attrs['model']}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    # Atomic, so a half-written plot never replaces a good one.
    atomic_write(path, buf.getvalue())
    return path


def export_config(study: Any, ranked: list[tuple[Any, float]], k: int, shown_url: str) -> dict:
    """The K-th ranked front point as a config file that ``elpagen train --config`` reads."""
    if k < 1:
        raise UsageError(f"--export-best must be 1 or more, got {k}")
    if not ranked:
        raise UsageError(f"study {study.study_name!r} has no completed trial to export")
    if k > len(ranked):
        raise UsageError(
            f"--export-best {k}: the Pareto front of {study.study_name!r} holds only "
            f"{len(ranked)} point(s)"
        )
    t, dist = ranked[k - 1]
    attrs = study.user_attrs
    settings = t.user_attrs.get("config")
    if settings is None:  # written by an older version: rebuild from the parameters
        from elpagen.settings import resolve_config

        cls = model_class(attrs["model"])
        cfg = resolve_config(cls.Config, cls.PROTOCOLS, attrs["protocol"],
                             params_to_overrides(dict(t.params)))
        settings = to_jsonable(dataclasses.asdict(cfg))
    return {
        "format": "elpagen-search-export",
        "model": attrs["model"],
        "protocol": attrs["protocol"],
        "target_class": TARGET_CLASS,
        "settings": settings,
        "searched": dict(t.params),
        "objectives": {"js_train_class1": t.values[0], "novel_unique": int(t.values[1])},
        "trial": t.number,
        "model_seed": t.user_attrs.get("model_seed"),
        "study": study.study_name,
        "storage": shown_url,
        "quick": bool(attrs.get("quick")),
        "samples": attrs.get("samples"),
        "rank": k,
        "front_size": len(ranked),
        "distance": dist,
        "rule": EXPORT_RULE,
        "elpagen_version": __version__,
    }
