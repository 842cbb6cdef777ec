"""The training-set-size figure of the report: precision, coverage and JS distance of
class 1 against the size of the training subset (:func:`fig_training_size`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import catalogue
from elpagen.report import layout


def fig_training_size(r: Mapping[str, Any], path: Path) -> str:
    plt = layout.pyplot()
    ts = r["experiments"]["training_size"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.4), layout="constrained")
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
            col = catalogue.color(m, None)
            ax.plot(x, mu, "o-", color=col, label=catalogue.label(m))
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
    if any_data:  # one legend for the three panels, below them
        handles, labels = [], []
        for ax in axes:
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        layout.figure_legend(fig, handles, labels, ncol=5)
    else:
        for ax in axes:
            layout.no_data(ax)
    fig.suptitle(f"Training-set size study: class 1, {ts['samples']:,} valid samples per fit")
    layout.save(fig, path)
    return (f"Precision, coverage and JS distance for class 1 ({ts['samples']:,} valid samples "
            f"per fit) against the size of the training set: random subsets of "
            f"{', '.join(f'{n:,}' for n in ts['sizes'][:-1])} compositions ({_halves(r)}one "
            "subset per size) and the full set. Lines are means over the fits, bands mean ± "
            "standard deviation.")


def _halves(r: Mapping[str, Any]) -> str:
    """How a training subset is drawn: twin pairs together where the space has twins."""
    twins = (r.get("space") or {}).get("twins", "")
    return (f"half of them original compositions, half their {twins} swaps; " if twins
            else "")
