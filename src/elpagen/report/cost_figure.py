"""The cost-of-discovery figure of the report: DFT checks of each model against random
screening's, as a dot plot on a log axis (:func:`fig_cost`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import catalogue
from elpagen.report import layout


def fig_cost(r: Mapping[str, Any], path: Path) -> str:
    """A dot plot: one row per model, its two ratios as dots with the spread of the fits
    as whiskers on a log axis (a ratio is a factor: bars from an arbitrary floor would
    mislead), and the checks and finds per fit, rounded, in a column of their own beside
    the axes, where they can overlap nothing."""
    plt = layout.pyplot()
    cost = r["experiments"]["cost"]
    rows = [(m, me["summary"]) for m, me in cost["models"].items()
            if me["n_fits"] and me["summary"]["ratio"]["mean"] is not None]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.55 * max(len(rows), 4)), layout="constrained")
    if rows:
        y = np.arange(len(rows))[::-1].astype(float)  # the first model on top
        mu, sd, mu_t, sd_t = (np.array([s[k][f] or 0.0 for _, s in rows], dtype=float)
                              for k, f in (("ratio", "mean"), ("ratio", "std"),
                                           ("ratio_with_training", "mean"),
                                           ("ratio_with_training", "std")))
        pos = np.concatenate([mu[mu > 0], mu_t[mu_t > 0]])
        lo = float(min(pos.min(), 1.0)) / 3 if pos.size else 0.1
        hi = float(max((pos + np.concatenate([sd[mu > 0], sd_t[mu_t > 0]])).max(), 1.0)) * 3 \
            if pos.size else 10.0
        colors = [catalogue.color(m, "C0") for m, _ in rows]
        for val, spread, dy, filled, lab in (
                (mu, sd, 0.12, True, "ratio: random / n_checks"),
                (mu_t, sd_t, -0.12, False, "ratio_with_training: random / (n_train + "
                                           "n_checks), the paper's yardstick")):
            ok = val > 0  # a model that found nothing has no ratio on a log axis
            ax.errorbar(val[ok], y[ok] + dy,
                        xerr=[np.minimum(spread[ok], val[ok] - lo * 1.01), spread[ok]],
                        fmt="none", ecolor="0.35", elinewidth=1, capsize=3, zorder=2)
            ax.scatter(val[ok], y[ok] + dy, s=60, marker="o" if filled else "D",
                       c=[c for c, k in zip(colors, ok, strict=True) if k] if filled
                       else "white", edgecolors=[c for c, k in zip(colors, ok, strict=True)
                                                 if k], linewidths=1.6, zorder=3, label=lab)
        for yi, (_, s) in zip(y, rows, strict=True):
            if not s["found"]["mean"]:
                ax.text(lo * 1.15, yi, "nothing found in class 1", va="center",
                        fontsize=layout.MIN_FONT, color="0.3")
        ax.axvline(1.0, color="k", ls="--", lw=1, label="as costly as random screening")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_yticks(y, [catalogue.label(m) for m, _ in rows])
        ax.set_xlabel("random-screening checks / model checks (log scale; right of 1: "
                      "cheaper than random screening)")
        # The counts per fit, rounded (a mean over fits is no count), as the tick labels of
        # a right-hand axis: level with the model's dots, laid out with the figure.
        right = ax.secondary_yaxis("right")
        right.set_yticks(y, [f"{round(s['n_checks']['mean']):,} / {round(s['found']['mean']):,}"
                             for _, s in rows])
        right.tick_params(length=0)
        right.set_ylabel("DFT checks / class-1 finds per fit (mean)")
        from matplotlib.lines import Line2D

        handles, labels = ax.get_legend_handles_labels()
        # Neutral markers in the legend: the colours are the models'.
        handles[:2] = [Line2D([], [], ls="none", marker=mk, ms=8, mfc=fc, mec="0.3", mew=1.6)
                       for mk, fc in (("o", "0.3"), ("D", "white"))]
        layout.figure_legend(fig, handles, labels, ncol=1)
        ax.grid(axis="x", which="major", alpha=0.3)
    else:
        layout.no_data(ax)
    ax.set_title("Cost of discovery: DFT checks against random screening (class 1)")
    layout.save(fig, path)
    return ("Cost of discovery for class 1: every distinct generated composition needs one DFT "
            "check (n_checks); found is how many of them lie in class 1. Random screening "
            "(without replacement) needs on average found · (N_space + 1) / (N_class1 + 1) "
            "checks to find as many. Filled dots (ratio): that number divided by n_checks; "
            "open diamonds (ratio_with_training, the published paper's yardstick): divided by "
            "n_train + n_checks, also charging the DFT calculations of the training set the "
            "model was fitted on (none for random screening). Mean over fits with whiskers of "
            "± one standard deviation, log scale; right of the dashed line at 1 the model is "
            "cheaper than random screening. A model that found nothing has no ratio. Right "
            "column: mean checks and class-1 finds per fit, rounded to whole compositions.")
