"""The drawing rules every figure of the report follows (:mod:`elpagen.report.figures`).

The figures were checked at page size in a browser: constrained layout; one legend per
figure, outside the axes (a spare panel of a grid counts as outside); long tick labels
wrapped on words; nothing under :data:`MIN_FONT`; point labels that would overlap left out.
Every figure is written as a PNG (the page) and an SVG beside it (a vector copy for a
paper), each atomically.
"""

from __future__ import annotations

import contextlib
import io
import math
import textwrap
from collections.abc import Iterator, Sequence
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


_watermark: str | None = None


@contextlib.contextmanager
def watermark(text: str | None) -> Iterator[None]:
    """Within the block, :func:`save` stamps ``text`` across every figure (None: nothing)."""
    global _watermark
    old, _watermark = _watermark, text
    try:
        yield
    finally:
        _watermark = old


def svg_path(png: Path | str) -> Path:
    """The vector copy of a figure: the PNG's name with ``.svg``."""
    return Path(png).with_suffix(".svg")


def save(fig, path: Path) -> None:
    """The PNG at ``path`` and its SVG beside it. Every figure is laid out by its
    constrained layout; bbox_inches="tight" would measure every artist a second time
    (seconds per figure with log axes on a busy machine)."""
    plt = pyplot()
    if _watermark:  # large, faint and diagonal: no reader takes the figure for a result
        # Sized to the figure: the widest line fits a 10-inch figure whole.
        size = min(40.0, 2.6 * fig.get_figwidth())
        fig.text(0.5, 0.5, _watermark.replace(": ", ":\n", 1).upper(), ha="center",
                 va="center", rotation=18, fontsize=size, color="#c0392b", alpha=0.16,
                 fontweight="bold", zorder=100)
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
                 others: Sequence[tuple[float, float]] = ()) -> int:
    """Annotate points with labels that neither overlap each other nor cover a point, nor
    leave the axes: the labels of the front first (the sort key puts False first), each
    at the first free one of eight places around its point, left out where none is free
    (crowded points, as near the right edge of the class-5 frontier). ``others``: more
    points to keep clear of. Works in points of the axes as laid out when called (call it
    after the limits are set); returns how many labels were placed."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    box = ax.get_window_extent()
    scale = 72.0 / ax.figure.dpi
    width, height = box.width * scale, box.height * scale

    def at(x: float, y: float) -> tuple[float, float]:
        return ((x - x0) / ((x1 - x0) or 1.0) * width, (y - y0) / ((y1 - y0) or 1.0) * height)

    r = 4.0  # half a marker, in points
    taken = [(px - r, py - r, px + r, py + r)
             for px, py in (at(x, y) for x, y in [*((t[1], t[2]) for t in labels), *others])]
    h = MIN_FONT * 1.15
    placed = 0
    for _, x, y, text, color in sorted(labels, key=lambda t: t[0]):
        px, py = at(x, y)
        w = 0.62 * MIN_FONT * len(text) + 2
        for dx, dy in ((4, 3), (4, -3 - h), (-4 - w, 3), (-4 - w, -3 - h), (-w / 2, 6),
                       (-w / 2, -6 - h), (7, -h / 2), (-7 - w, -h / 2)):
            b = (px + dx, py + dy, px + dx + w, py + dy + h)
            if b[0] < 0 or b[1] < 0 or b[2] > width or b[3] > height:
                continue
            if any(b[0] < t[2] and t[0] < b[2] and b[1] < t[3] and t[1] < b[3] for t in taken):
                continue
            taken.append(b)
            placed += 1
            ax.annotate(text, (x, y), fontsize=MIN_FONT, color=color, xytext=(dx, dy),
                        textcoords="offset points", ha="left", va="bottom")
            break
    return placed
