"""Every figure of the study report: a PNG for the page and an SVG beside it (the same
name, ``.svg``: a vector copy for a paper), drawn with matplotlib (Agg backend) from the
results document alone (:func:`elpagen.report.collect`), each file written atomically.

:func:`make_figures` writes them all in report order (:data:`FIGURES`) and returns their
titles and captions; missing data shows as "no data yet".

The layout rules (legends outside the axes, fonts, SVG copies) are those of
:mod:`elpagen.report.layout`; the ten energy classes are drawn in a qualitative colour map
(tab10), one distinct hue each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import catalogue
from elpagen.harness.config import METHOD_SAMPLES
from elpagen.report import campaigns, layout, quick
from elpagen.report.cost_figure import fig_cost
from elpagen.report.figure_cache import FigureCache, fingerprint
from elpagen.report.training_size_figure import fig_training_size


def model_label(m: str) -> str:
    """The display name of a model (its catalogue label; its key when it has none)."""
    return catalogue.label(m)


def space_noun(r: Mapping[str, Any]) -> str:
    """The study's compositions as a plural noun: "Elpasolites" (the space's name), or
    "compositions" for a document that names no space."""
    sp = r.get("space") or {}
    return f"{sp['name'][:1].upper()}{sp['name'][1:]}s" if sp.get("name") else "compositions"


def class_title(r: Mapping[str, Any], k: int) -> str:
    """A section's name for class ``k``: the method's "Minority class 1" and "Majority class
    5" (docs/method.md) only where the space's class sizes bear them out (the elpasolite's);
    on another space class 5 need not be the largest (the perovskite's is class 4)."""
    sizes = list(r["oracle"].get("class_sizes") or [])
    if len(sizes) < 5:
        return f"Class {k}"
    if k == 5 and sizes[4] == max(sizes):
        return "Majority class 5"
    if k == 1 and sizes[0] <= sizes[4]:
        return "Minority class 1"
    return f"Class {k}"


def fig_class_distribution(r: Mapping[str, Any], path: Path) -> str:
    plt = layout.pyplot()
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
        ax.set_xticks(x, [f"{k}\n{edges[k - 1]:.2f}\nto {edges[k]:.2f}" for k in x],
                      fontsize=layout.MIN_FONT)
        ax.set_xlabel("energy class (1 = most stable) and its range in eV/atom")
        ax.set_ylabel("compositions (log scale)")
        layout.figure_legend(fig, *ax.get_legend_handles_labels(), ncol=2)
        ax.grid(axis="y", alpha=0.3)
    else:
        layout.no_data(ax)
    ax.set_title("Energy classes: full composition space vs training set")
    layout.save(fig, path)
    n_space = r["oracle"].get("n_space") or (r.get("space") or {}).get("n_space") or 0
    twins = (r.get("space") or {}).get("twins", "A/B")  # documents before spaces: elpasolite
    sizes = list(r["oracle"].get("class_sizes") or [])
    extremes = (f" The smallest class is {int(np.argmin(sizes)) + 1}, the largest "
                f"{int(np.argmax(sizes)) + 1}." if sizes else "")
    return (f"Number of compositions per energy class in the full space of {n_space:,} "
            f"{space_noun(r)} (classes of the reference energies) and in the "
            f"{'augmented ' if twins else ''}DFT training set, log scale.{extremes}")


def fig_reference_js(r: Mapping[str, Any], path: Path) -> str:
    plt = layout.pyplot()
    fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    t = np.array(r["reference_js"], dtype=float) if r["reference_js"] else None
    if t is not None and t.size:
        im = ax.imshow(np.ma.masked_invalid(t), cmap="viridis_r", vmin=0, vmax=1)
        for i in range(10):
            for j in range(10):
                if np.isfinite(t[i, j]):
                    ax.text(j, i, f"{t[i, j]:.2f}", ha="center", va="center",
                            fontsize=layout.MIN_FONT,
                            color="white" if t[i, j] > 0.55 else "black")
        ax.set_xticks(range(10), [str(k) for k in range(1, 11)])
        ax.set_yticks(range(10), [str(k) for k in range(1, 11)])
        ax.set_xlabel("full-space class (reference energies)")
        ax.set_ylabel("training-set class (DFT)")
        fig.colorbar(im, ax=ax, label="Jensen–Shannon distance of p(Z|S)")
    else:
        layout.no_data(ax)
    ax.set_title("Reference JS distances: training class vs full-space class")
    layout.save(fig, path)
    return ("Jensen–Shannon distance between the per-site element distributions p(Z|S) of "
            "each training-set class (rows) and each full-space class (columns). The diagonal "
            "shows how well a generator that reproduced the training class exactly would do; "
            "0.25 or less counts as good agreement.")


def fig_discovery(r: Mapping[str, Any], path: Path, which: str) -> str:
    plt = layout.pyplot()
    models = r["settings"]["models"]
    curves = r["discovery"][which]
    target = 1 if which == "class1" else 5
    fig, axes = layout.model_grid(plt, len(models))
    # Ten classes, ten distinct hues (a sequential map makes neighbouring classes alike).
    cmap = plt.get_cmap("tab10")
    handles = None
    for ax, m in zip(axes, models, strict=False):
        c = curves.get(m)
        ax.set_title(f"{model_label(m)}" + (f" (seed {c['seed']})" if c else ""))
        if not c:
            layout.no_data(ax)
            continue
        n = np.asarray(c["n_samples"], dtype=float)

        def pos(y):
            y = np.asarray(y, dtype=float)
            return np.where(y > 0, y, np.nan)  # log axis: 0 is not drawable

        novel = np.asarray(c["novel"], dtype=float)
        for k in range(10):
            ax.plot(n, pos(novel[:, k]), color=cmap(k),
                    lw=2.6 if k + 1 == target else 1.1,
                    label=f"novel, class {k + 1}" + (" (target)" if k + 1 == target else ""))
        ax.plot(n, pos(c["rediscovered"]), "k--", lw=1.5, label="rediscoveries (training set)")
        ax.plot(n, pos(c["repeated"]), color="k", ls=":", lw=2.0, label="repetitions")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Decades only: minor ticks on 16 log axes are half the figure's drawing time and
        # do not show at the page's scale.
        ax.minorticks_off()
        ax.set_xlabel("valid samples drawn (log scale)")
        ax.set_ylabel("count (log scale)")
        ax.grid(alpha=0.3, which="major")
        handles = ax.get_legend_handles_labels()
    layout.legend_in_spare_panel(axes, len(models), handles)
    n_max = r["settings"]["samples"]["curve_class1" if which == "class1" else "class5"]
    fig.suptitle(f"Discovery curves, target class {target}, up to {n_max:,} valid samples "
                 "(one fit per model)")
    layout.save(fig, path)
    return (f"Cumulative discoveries while sampling class {target} from one fit per model (the "
            f"first seed), up to {n_max:,} valid samples, both axes log-scaled: novel "
            "compositions (first generated, not in the training set) split by the reference "
            "class they fall in (the target class drawn thick), rediscoveries of training "
            "compositions, and repetitions of earlier samples.")


def fig_energy_histograms(r: Mapping[str, Any], path: Path) -> str:
    plt = layout.pyplot()
    h = r["energy_histograms"]
    models = r["settings"]["models"]
    fig, axes = layout.model_grid(plt, len(models), figsize=(15, 8))
    edges = np.asarray(h["edges"], dtype=float)
    train = np.asarray(h["training"], dtype=float)
    lo, hi = h["class1_window"]
    handles = None
    for ax, m in zip(axes, models, strict=False):
        mh = h["models"].get(m)
        ax.set_title(model_label(m))
        if mh is None or edges.size < 2:
            layout.no_data(ax)
            continue
        counts = np.asarray(mh["counts"], dtype=float)
        ax.axvspan(lo, hi, color="green", alpha=0.12, label="class 1 energy range")
        ax.stairs(train / max(train.sum(), 1), edges, fill=True, color="0.75",
                  label="training set (DFT energies)")
        ax.stairs(counts / max(counts.sum(), 1e-12), edges, color=catalogue.color(m, "C0"),
                  lw=2, label="unique generations (reference energies)")
        ax.set_xlabel("formation energy (eV/atom)")
        ax.set_ylabel(f"fraction per {h['bin_width']:g} eV/atom")
        ax.text(0.98, 0.95, f"{counts.sum():,.0f} unique per fit\n(mean of {mh['n_fits']})",
                transform=ax.transAxes, ha="right", va="top", fontsize=layout.MIN_FONT)
        ax.grid(alpha=0.3)
        handles = ax.get_legend_handles_labels()
    layout.legend_in_spare_panel(axes, len(models), handles)
    fig.suptitle("Reference energies of the unique class-1 generations vs the training set")
    layout.save(fig, path)
    n = r["settings"]["samples"]["class1"]
    return (f"Histograms ({h['bin_width']:g} eV/atom bins) of the reference formation energies "
            f"of the distinct compositions generated for class 1 ({n:,} valid samples per fit, "
            "counts averaged over the fits), normalised to fractions, against the DFT energies "
            "of the training set. The green band is the class-1 energy range; mass to its right "
            "is generated outside the requested class.")


def fig_site_distributions(r: Mapping[str, Any], path: Path) -> str:
    plt = layout.pyplot()
    from matplotlib.colors import PowerNorm

    sd = r["site_distributions"]
    rows = [("full space, class 1", sd["space"]), ("training set, class 1", sd["training"])]
    js = r["experiments"]["class1"]["models"]
    for m in r["settings"]["models"]:
        if m in sd["models"]:
            mean = js.get(m, {}).get("summary", {}).get("js_distance", {}).get("mean")
            extra = f" (JS distance to the full space: {mean:.3f})" if mean is not None else ""
            rows.append((f"{model_label(m)}{extra}", sd["models"][m]))
        else:
            failed = js.get(m, {}).get("failed") and not js[m].get("n_fits")
            rows.append((f"{model_label(m)} ({'every fit failed' if failed else 'no data yet'})",
                         "every fit failed: see the class-1 table" if failed else None))
    fig, axes = plt.subplots(len(rows), 1, figsize=(13, 1.45 * len(rows) + 1.0), squeeze=False,
                             layout="constrained")
    axes = axes.ravel()
    # Square-root colour scale: fluorine fills site D almost alone in class 1 (p ~ 1), which
    # would wash out every other element on a linear scale.
    norm = PowerNorm(0.5, vmin=0.0, vmax=1.0)
    im = None
    elements = sd["elements"]
    sites = sd["sites"]
    own = sd.get("site_elements") or []  # each site's list, where the lists differ
    own = own if any(list(e) != list(elements) for e in own) else []  # order counts too
    for ax, (title, a) in zip(axes, rows, strict=True):
        ax.set_title(title, fontsize=12, loc="left")
        if a is None or isinstance(a, str) or not len(a):
            layout.no_data(ax, a if isinstance(a, str) else "no data yet")
            continue
        im = ax.imshow(np.ma.masked_invalid(np.asarray(a, dtype=float)), aspect="auto",
                       cmap="magma_r", norm=norm, interpolation="nearest")
        arr = np.asarray(a, dtype=float)
        ax.set_yticks(range(len(sites)), sites, fontsize=layout.MIN_FONT)
        # Columns: the space's elements (a site's own list where the sites differ and the
        # rows are as wide as the longest site list: its positions are numbered).
        same = arr.shape[-1] == len(elements) and not own
        cols = elements if same else range(1, arr.shape[-1] + 1)
        ax.set_xticks(range(arr.shape[-1]), [str(c) for c in cols], fontsize=layout.MIN_FONT)
        ax.tick_params(axis="x", length=2, pad=1)
        if own and arr.shape[-1] <= 40:  # position j means another element on each site
            for i, site in enumerate(own):
                for j, symbol in enumerate(site):
                    dark = np.nan_to_num(arr[i, j]) > 0.12  # past mid-scale: light text
                    ax.text(j, i, symbol, ha="center", va="center", fontsize=layout.MIN_FONT,
                            color="white" if dark else "0.3")
    if im is not None:
        fig.colorbar(im, ax=list(axes), label="p(Z | site), square-root scale",
                     fraction=0.025, pad=0.01)
    fig.suptitle("Per-site element distributions p(Z|S), class 1")
    layout.save(fig, path)
    span = f" {elements[0]} … {elements[-1]}" if elements else ""
    cols = (f"the {len(elements)} elements{span}" if not own else
            "each site's own elements by position (their symbols in the cells)")
    return (f"Per-site element distributions p(Z|S) (rows: sites {', '.join(sites)}; columns: "
            f"{cols}; square-root colour scale) of class 1 in the "
            "full space, of the class-1 training compositions, and of the class-1 samples of "
            "every model (mean over fits; repeats count). The value in each title is the "
            "model's mean JS distance to the full-space class-1 distribution.")


def exact_note(fr: Mapping[str, Any], samples: Mapping[str, Any]) -> str:
    """Which frontier points are exact expectations, not samples (a model's ``estimate``)."""
    out = []
    for k, e in fr.items():
        names = [model_label(m) for m, me in e["models"].items()
                 if me.get("estimate") == "expected"]
        if names:
            out.append(
                f"The class-{e['target_class']} points of {', '.join(names)} (“exact "
                f"expectation”, open diamonds) are the exact expected precision and coverage at "
                f"N = {samples.get(f'frontier_{k}') or 0:,} valid draws from the model's own "
                "distribution, not samples; their JS distance is the distribution's own "
                "(the N → ∞ limit).")
    return " ".join(out)


def fig_frontier(r: Mapping[str, Any], path: Path) -> str:
    plt = layout.pyplot()
    fr = r.get("frontier", {})
    fig, axes = plt.subplots(1, 2, figsize=(15, 7.2), layout="constrained")
    from matplotlib.lines import Line2D

    published_any = False
    handles: list[Any] = []
    labels: list[str] = []
    to_label: list[tuple[Any, list[tuple[bool, float, float, str, Any]], list]] = []
    for ax, c in zip(axes, (1, 5), strict=True):
        e = fr.get(f"class{c}") or {}
        drawn = False
        knob_labels: list[tuple[bool, float, float, str, Any]] = []
        stars: list[tuple[float, float]] = []
        for m, me in (e.get("models") or {}).items():
            pts = [p for p in me["points"] if p["precision"]["mean"] is not None]
            if not pts:
                continue
            drawn = True
            col = catalogue.color(m, None)
            screening = me.get("screening", False)
            exact = me.get("estimate") == "expected"  # exact expectations, not samples
            mark = "X" if screening else "D" if exact else "o"
            x = np.array([p["coverage"]["mean"] for p in pts], dtype=float)
            y = np.array([p["precision"]["mean"] for p in pts], dtype=float)
            knob = f", {me['knob']}" if me.get("knob") else ""
            ls = "--" if screening else "-"
            ax.plot(x, y, ls=ls, lw=1.0, color=col, alpha=0.7, marker=mark,
                    ms=5 if exact else 4, mfc="none")
            front = [i for i, p in enumerate(pts) if p["knob"] in me["front"]]
            size = 70 if screening else 42
            ax.scatter(x[front], y[front], s=size, color=col, marker=mark,
                       edgecolors="black", lw=0.6, zorder=4)
            # The legend shows the marker as drawn on the front (filled, black edge), one
            # entry for both panels.
            handles.append(Line2D([], [], ls=ls, lw=1.0, color=col, marker=mark,
                                  ms=size ** 0.5, mfc=col, mec="black", mew=0.6))
            labels.append(f"{model_label(m)}{knob}")
            for i, (p, xi, yi) in enumerate(zip(pts, x, y, strict=True)):
                if p["knob"] is not None:
                    knob_labels.append((i not in front, xi, yi, f"{p['knob']:g}", col))
        samples = e.get("samples") or 0
        # The published points are at the paper's 10,000 valid samples: beside points of
        # another sample count they would compare coverages of different N.
        published = (e.get("published") or {}) if samples == METHOD_SAMPLES else {}
        for m, pub in published.items():
            published_any = True
            stars.append((pub["coverage"], pub["precision"]))
            ax.scatter([pub["coverage"]], [pub["precision"]], marker="*", s=230,
                       color=catalogue.color(m, None), edgecolors="black", lw=0.7, zorder=6,
                       label=f"{model_label(m)}, published (Table 1)")
        if e.get("ideal_coverage") is not None:
            ax.axvline(min(float(e["ideal_coverage"]), 1.0), color="0.4", ls=":", lw=1,
                       label="ideal coverage")
        exact = any(me.get("estimate") == "expected" for me in (e.get("models") or {}).values())
        ax.set_title(f"class {c}: {samples:,} valid samples per knob value"
                     + ("" if published or not e.get("published") else
                        f"\n(published points are at {METHOD_SAMPLES:,}: not drawn)")
                     + ("" if e.get("published") else " (no published points)")
                     + (f"\ndiamonds: exact expectation at N = {samples:,}" if exact else ""))
        if drawn or published:
            ax.set_xlim(left=0)
            ax.set_ylim(0, 1.02)
            to_label.append((ax, knob_labels, stars))
            ax.set_xlabel("coverage")
            ax.set_ylabel("precision")
            ax.grid(alpha=0.3)
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        else:
            layout.no_data(ax)
    layout.figure_legend(fig, handles, labels, ncol=4)  # one legend for both panels
    fig.suptitle("Precision-coverage frontiers along each model's sampling knob "
                 "(mean over fits; filled: non-dominated)")
    fig.draw_without_rendering()  # the final layout: the labels are placed in its points
    for ax, knob_labels, stars in to_label:
        layout.label_points(ax, knob_labels, stars)
    layout.save(fig, path)
    has_published = any((e or {}).get("published") for e in fr.values())  # the elpasolite's
    return ("Precision against coverage of every model swept along its sampling knob "
            "(temperature, noise scale, ...; values annotated where there is room, "
            "those of the front first), for class 1 (left) and "
            "class 5 (right), mean over the fits of the study (the same fits as the class-1 "
            "and class-5 experiments). Filled markers are the non-dominated points of the mean "
            "frontier; the random baseline has no knob (one point). The surrogate (black "
            "crosses, dashed) is screening, not generation: it enumerates the space with an "
            + ("energy regressor fitted on the DFT data that the reference energies also come "
               "from, which favours it. " if r["oracle"].get("sigma") is not None else
               "energy regressor fitted on the training set's values (the reference is the "
               "space's table itself). ")
            + ("Stars on the class-1 panel: the published Table 1 points (VAE 0.83/0.54, GAN "
               "0.66/0.62, RL 0.69/0.53; precision/coverage), drawn only where the panel's "
               f"sample count is the paper's {METHOD_SAMPLES:,} valid samples (coverage grows "
               "with N). " if has_published else
               "No published points: the paper's are the elpasolite's energy classes. ")
            + ("The published study gives no class-5 precision or coverage, so the class-5 "
               "panel has no published points. " if published_any else
               "No published points are drawn here: this study's sample counts differ. "
               if has_published else "")
            + "The dotted line is the ideal-coverage bound of uniform draws from the class."
            + (" " + exact_note(fr, r["settings"]["samples"]) if fr else ""))


# --------------------------------------------------------------------------- all figures


_SPECS = (
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
    ("frontier.png", "Precision-coverage frontiers, classes 1 and 5", fig_frontier),
    *((name, f"Discovery campaigns, class {c}",
       lambda r, p, c=c: campaigns.figure(r, p, c))
      for name, c in zip(campaigns.FIGURE_FILES, campaigns.CAMPAIGN_CLASSES, strict=True)),
)
#: The PNG files of the report, in report order.
FIGURES: tuple[str, ...] = tuple(name for name, _, _ in _SPECS)


def make_figures(r: Mapping[str, Any], directory: Path,
                 log: Callable[[str], None] | None = None) -> list[dict[str, str]]:
    """Write every figure (PNG and SVG), keeping those already drawn from the same inputs
    (:mod:`elpagen.report.figure_cache`); returns [{file, title, caption}] in report order.
    ``log``: a line as each figure starts."""
    plt = layout.pyplot()
    out = []
    # A study without campaign settings (an older store) has no campaign figures.
    specs = [s for s in _SPECS if r.get("campaign") or s[0] not in campaigns.FIGURE_FILES]
    stamp = quick.QUICK_BANNER if r["settings"].get("quick") else None
    cache = FigureCache(directory, fingerprint(r))
    for k, (name, title, fn) in enumerate(specs, 1):
        caption = cache.get(name)
        if caption is None:
            if log:
                log(f"drawing figure {k}/{len(specs)}: {title} ({name}, .svg)")
            with plt.rc_context(layout.STYLE), layout.watermark(stamp):
                caption = fn(r, directory / name)
            cache.put(name, caption)
        elif log:
            log(f"figure {k}/{len(specs)} unchanged: {title} ({name}, .svg)")
        out.append({"file": name, "title": title, "caption": caption})
    cache.save()
    return out
