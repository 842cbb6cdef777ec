"""The drawing rules every figure of the report follows (:mod:`elpagen.report.figures`).

The figures were checked at page size in a browser: constrained layout; one legend per
figure, outside the axes (a spare panel of a grid counts as outside); long tick labels
wrapped on words; nothing under :data:`MIN_FONT`; point labels that would overlap left out.
Every figure is written as a PNG (the page) and an SVG beside it (a vector copy for a
paper), each atomically.
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import Any

from elpagen.study.store import atomic_write_bytes


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


#: The smallest font of any figure (points). The wide figures (15-16 in at 110 dpi) are
#: shown at about 0.8x on the report page (1,400 px wide), where 10 pt reads as 12 px.
MIN_FONT = 10
#: Font sizes of every figure (a context around each: the caller's settings are left alone).
STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12,
         "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 11,
         "figure.titlesize": 14}


def svg_path(png: Path | str) -> Path:
    """The vector copy of a figure: the PNG's name with ``.svg``."""
    return Path(png).with_suffix(".svg")


def save(fig, path: Path) -> None:
    """The PNG at ``path`` and its SVG beside it. Every figure is laid out by its
    constrained layout; bbox_inches="tight" would measure every artist a second time
    (seconds per figure with log axes on a busy machine)."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    # The SVG keeps the PNG's layout (laid out once: half the time), its text as text
    # (editable in a paper's figure; set in DejaVu Sans) and no date (an unchanged report
    # rebuilds to the same bytes).
    fig.set_layout_engine("none")
    vec = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(vec, format="svg", metadata={"Date": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_bytes(svg_path(path), vec.getvalue())


def figure_legend(fig, handles, labels, *, ncol: int, loc: str = "outside lower center",
                  **kw) -> None:
    """The one legend of a figure, outside its axes (constrained layout makes room);
    repeated labels are drawn once."""
    seen: dict[str, Any] = {}
    for h, lab in zip(handles, labels, strict=True):
        if lab and not lab.startswith("_"):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc=loc, ncol=ncol,
                   frameon=False, **kw)


def wrap(label: str, width: int = 12) -> str:
    """A tick label on lines of at most ``width`` characters (long model names)."""
    return "\n".join(textwrap.wrap(label, width, break_long_words=False)) or label


def no_data(ax, text: str = "no data yet") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def model_grid(plt, n_models: int, figsize=(15, 8.5)):
    """A grid of three columns with a panel per model and at least one spare (the legend)."""
    ncols = 3
    nrows = max(1, math.ceil((n_models + 1) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False,
                             layout="constrained")
    return fig, axes.ravel()


def legend_in_spare_panel(axes, n_models: int, handles) -> None:
    """Hide the grid's panels after the models'; the first of them holds the legend."""
    for ax in axes[n_models:]:
        ax.axis("off")
    if handles and len(axes) > n_models:
        axes[n_models].legend(*handles, loc="center", frameon=False)


def label_points(ax, labels: list[tuple[bool, float, float, str, Any]],
                 min_gap: tuple[float, float] = (0.05, 0.04)) -> None:
    """Annotate points with readable labels that do not pile up: the labels of the front
    first (the sort key puts False first), then the others, each only where no label
    placed before lies within ``min_gap`` (fractions of the axes) of it."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    placed: list[tuple[float, float]] = []
    for _, x, y, text, color in sorted(labels, key=lambda t: t[0]):
        fx, fy = (x - x0) / ((x1 - x0) or 1.0), (y - y0) / ((y1 - y0) or 1.0)
        if any(abs(fx - px) < min_gap[0] and abs(fy - py) < min_gap[1] for px, py in placed):
            continue
        placed.append((fx, fy))
        ax.annotate(text, (x, y), fontsize=MIN_FONT, color=color, xytext=(3, 3),
                    textcoords="offset points")
