"""The campaign's curves: found / N_c against labels bought, with random's exact
expectation and the ideal (every label a hit); each strategy's label and colour are its
record's (:mod:`elpagen.campaign.catalogue`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_campaign(result: dict[str, Any], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from elpagen import io
    from elpagen.campaign import catalogue

    n_c = result["n_class"]
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for name, rec in result["strategies"].items():
        labels = np.asarray(rec["seeds"][0]["labels"])
        found = np.asarray([r["found"] for r in rec["seeds"]], dtype=float) / n_c
        line, = ax.plot(labels, found.mean(axis=0), label=catalogue.label(name),
                        color=catalogue.color(name), lw=1.6)
        if len(found) > 1:
            ax.fill_between(labels, found.min(axis=0), found.max(axis=0),
                            color=line.get_color(), alpha=0.15, lw=0)
    exp = result["expected"]
    ax.plot(exp["random"]["labels"], np.asarray(exp["random"]["found"]) / n_c, "k--", lw=1,
            label="random (expectation)")
    ax.plot(exp["ideal"]["labels"], np.asarray(exp["ideal"]["found"]) / n_c, "k:", lw=1,
            label="ideal")
    for frac in (0.5, 0.9):
        ax.axhline(frac, color="0.8", lw=0.8, zorder=0)
    ax.set_xlabel("labels bought (after the start set)")
    ax.set_ylabel(f"class {result['target_class']} found / {n_c:,}")
    ax.set_ylim(0, 1.02)
    pool = result["pool"] or "whole space"
    residual = (f", truth residual {result['truth_residual']}"
                if result.get("truth_residual") else "")
    n_seeds = len(result["seeds"])
    spread = f"; line: mean of {n_seeds} seeds, band: their range" if n_seeds > 1 else ""
    ax.set_title(f"start {result['start']['spec']}, batch {result['batch']}, pool {pool}, "
                 f"label noise {result['label_noise']}{residual}{spread}", fontsize=9)
    # Beside the axes: inside, it hides the steep early part of the curves.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    io.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
