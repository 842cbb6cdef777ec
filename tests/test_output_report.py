"""Report outputs a reader can trust: the quick-budget banner everywhere, published points
only at their own sample count, and figures whose labels neither overlap nor mislead."""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from elpagen import study
from elpagen.report import campaigns, cost_figure, figures, html, layout, quick


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_path, cache_dir, reference):
    """A quick study of three baselines (the surrogate among them) with one seed."""
    d = tmp_path_factory.mktemp("tiny") / "study"
    study.run_study(d, quick=True, n_seeds=1, models=["marginal", "random", "surrogate"],
                    data_path=str(data_path), cache_dir=str(cache_dir), progress=False,
                    log=lambda _msg: None)
    return SimpleNamespace(dir=d)


@pytest.fixture(scope="module")
def reported(tiny):
    """The report of :func:`tiny`, written by the command line: its stdout and results
    (a module fixture cannot take capsys: stdout is redirected by hand)."""
    from elpagen import cli

    def no_drawing(r, directory, log=None):  # the figures are drawn by the tests below
        names = [f for f in figures.FIGURES
                 if r.get("campaign") or f not in campaigns.FIGURE_FILES]
        for f in names:
            (directory / f).write_bytes(b"")
        return [{"file": f, "title": f, "caption": ""} for f in names]

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.MonkeyPatch.context() as mp:
        mp.setattr(html, "make_figures", no_drawing)
        assert cli.main(["report", "-q", str(tiny.dir)]) == 0
    return SimpleNamespace(dir=tiny.dir, out=buf.getvalue(),
                           r=json.loads((tiny.dir / "results.json").read_text()))


def _figure(monkeypatch, draw, *args):
    """The matplotlib figure ``draw`` makes (not saved), and the caption it returns."""
    made = {}
    monkeypatch.setattr(layout, "save", lambda fig, path: made.setdefault("fig", fig))
    plt = layout.pyplot()
    with plt.rc_context(layout.STYLE):
        caption = draw(*args, Path("unused.png"))
    fig = made["fig"]
    fig.canvas.draw()
    return fig, caption


def _overlaps(texts) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent()) for t in texts if t.get_text()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.overlaps(bb)]


# --------------------------------------------------------------------------- banner


def test_a_quick_report_says_so_on_every_output(reported):
    assert quick.QUICK_BANNER.upper() in reported.out  # the command's summary line
    page = (reported.dir / "report.html").read_text()
    assert "<div class='quick' role='alert'>" in page
    assert page.count(f"<span class='quickbadge'>{quick.QUICK_BANNER}</span></h2>") == \
        page.count("</h2>") > 5
    assert quick.QUICK_BANNER in (reported.dir / html.STANDALONE).read_text()
    for name in html.TABLES:
        head, *rows = list(csv.reader(io.StringIO((reported.dir / name).read_text())))
        assert head[-1] == "budgets", name
        assert rows and all(row[-1] == quick.QUICK_BANNER for row in rows), name


def test_a_full_report_has_no_banner(reported):
    r = copy.deepcopy(reported.r)
    r["settings"]["quick"] = False
    page = html.render_html(r)
    assert quick.QUICK_BANNER not in page and "class='quick'" not in page
    assert all(rows[0][-1] != "budgets" for rows in html.tables(r).values())


def test_figures_of_a_quick_study_are_stamped(monkeypatch):
    monkeypatch.setattr(layout, "atomic_write_bytes", lambda *a: None)
    plt = layout.pyplot()
    stamped, plain = plt.figure(), plt.figure()
    with layout.watermark(quick.QUICK_BANNER):
        layout.save(stamped, Path("x.png"))
    layout.save(plain, Path("y.png"))
    assert [t.get_text() for t in stamped.texts] == ["QUICK BUDGETS:\nTHESE NUMBERS ARE NOT "
                                                      "RESULTS"]
    assert plain.texts == []


# --------------------------------------------------------------------------- frontier


def _legend_labels(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_published_points_only_at_the_papers_sample_count(monkeypatch, reported):
    r = reported.r
    assert r["frontier"]["class1"]["samples"] != 10_000  # quick budgets
    fig, caption = _figure(monkeypatch, figures.fig_frontier, r)
    assert not any("published" in lab for lab in _legend_labels(fig))
    assert "not drawn" in fig.axes[0].get_title() and "No published points" in caption
    r10 = copy.deepcopy(r)
    r10["frontier"]["class1"]["samples"] = 10_000
    fig, caption = _figure(monkeypatch, figures.fig_frontier, r10)
    assert "VAE, published (Table 1)" in _legend_labels(fig)


def test_the_papers_points_belong_to_the_elpasolites_energy_classes(monkeypatch, reported):
    """Table 1 is the elpasolite's class 1: no published points on another space or
    target, and the frontier figure says why, not that the sample counts differ."""
    from elpagen.harness.frontier import published_points

    assert set(published_points(1)) == {"vae", "gan", "rl"}
    assert published_points(1, "elpasolite") == published_points(1)
    assert published_points(1, "perovskite") == {} == published_points(1, None, "stable")
    r = copy.deepcopy(reported.r)
    for e in r["frontier"].values():
        e["published"] = {}
    r["frontier"]["class1"]["samples"] = 10_000
    fig, caption = _figure(monkeypatch, figures.fig_frontier, r)
    assert not any("published" in lab for lab in _legend_labels(fig))
    assert "no published points" in fig.axes[0].get_title()
    assert "the paper's are the elpasolite's energy classes" in caption
    assert "Stars on the class-1 panel" not in caption


def test_frontier_knob_labels_do_not_overlap_and_the_legend_shows_what_is_drawn(
        monkeypatch, reported):
    fig, _ = _figure(monkeypatch, figures.fig_frontier, reported.r)
    for ax in fig.axes[:2]:
        assert not _overlaps(ax.texts), _overlaps(ax.texts)
        inside = ax.get_window_extent()
        assert all(inside.contains(*t.get_window_extent().p0) for t in ax.texts)
    leg = fig.legends[0]
    handle = dict(zip(_legend_labels(fig), leg.legend_handles, strict=True))[
        "surrogate (screening, not generation)"]
    drawn = [c for c in fig.axes[1].collections if c.get_offsets().shape[0] == 1
             and (c.get_facecolor()[0][:3] == 0).all()]  # the surrogate's black front point
    assert handle.get_marker() == "X" and handle.get_markerfacecolor() != "none"
    assert drawn, "the surrogate's filled cross is drawn on the class-5 panel"


def test_crowded_labels_near_the_right_edge_are_placed_apart_or_left_out():
    plt = layout.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.0)
    pts = [(False, 0.995 - 0.002 * i, 0.5 + 0.01 * i, f"{0.25 * (i + 1):g}", "C0")
           for i in range(12)]
    placed = layout.label_points(ax, pts)
    fig.canvas.draw()
    assert 2 <= placed < len(pts) and len(ax.texts) == placed
    assert not _overlaps(ax.texts)
    right = ax.get_window_extent().x1
    assert all(t.get_window_extent().x1 <= right + 1 for t in ax.texts)  # none off the edge
    plt.close(fig)


# --------------------------------------------------------------------------- cost


def test_cost_figure_is_a_dot_plot_with_whole_counts(monkeypatch, reported):
    from matplotlib.patches import Rectangle

    fig, caption = _figure(monkeypatch, cost_figure.fig_cost, reported.r)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert not [p for p in ax.patches if isinstance(p, Rectangle)]  # no bars on a log axis
    counts = [t.get_text() for ax2 in ax.child_axes for t in ax2.get_yticklabels()]
    assert counts and all(re.fullmatch(r"[\d,]+ / [\d,]+", c) for c in counts), counts
    everything = [*ax.texts, *ax.get_yticklabels(), *(t for a in ax.child_axes
                                                      for t in a.get_yticklabels())]
    assert not _overlaps(everything)
    assert "rounded" in caption


# --------------------------------------------------------------------------- campaign


def test_campaign_caption_names_only_lines_the_legend_has(monkeypatch, reported):
    r = reported.r
    fig, caption = _figure(monkeypatch, lambda r, p: campaigns.figure(r, p, 1), r)
    grey = any("of the class" in lab for lab in _legend_labels(fig))
    assert grey == ("Grey lines" in caption)
    r2 = copy.deepcopy(r)  # a campaign that reaches the whole class: both lines shown
    cc = r2["campaign"]["classes"]["1"]
    for name in ("ideal", "random_screening"):
        cc["expected"][name]["found"] = [cc["class_size"]] * len(cc["expected"][name]["found"])
    fig, caption = _figure(monkeypatch, lambda r, p: campaigns.figure(r, p, 1), r2)
    assert "50 % and 90 % of the class" in _legend_labels(fig)
    assert "Grey lines: 50 % and 90 % of the class." in caption


def test_the_report_names_a_target_other_than_energy(reported):
    """A study of the ``stable`` target says what its class 1 is; the default's does not."""
    assert "Target:" not in html.render_html(reported.r)
    r = copy.deepcopy(reported.r)
    r["settings"]["target"] = "stable"
    page = html.render_html(r)
    assert "Target: stable: class 1 is stable (E_hull &lt;= 0.025 eV/atom)" in page


def test_class_names_follow_the_spaces_class_sizes(monkeypatch, reported):
    """'Majority class 5' only where class 5 is the largest (the elpasolite); the perovskite's
    largest class is 4, and its caption names its own smallest and largest classes."""
    page = html.render_html(reported.r)
    assert "Minority class 1" in page and "Majority class 5" in page
    r = copy.deepcopy(reported.r)
    r["oracle"]["class_sizes"] = [178, 670, 1060, 1105, 985, 688, 383, 150, 50, 7]
    r["space"] = {"name": "perovskite", "twins": "", "n_space": 5329}
    page = html.render_html(r)
    assert "Majority class 5" not in page and "3. Class 5:" in page
    assert "Minority class 1" in page
    _, caption = _figure(monkeypatch, figures.fig_class_distribution, r)
    assert "smallest class is 10, the largest 4" in caption and "augmented" not in caption
    _, caption = _figure(monkeypatch, figures.fig_class_distribution, reported.r)
    assert "augmented DFT training set" in caption


def test_site_distributions_of_sites_with_their_own_elements(monkeypatch, reported):
    """A space file whose sites list different elements: column j is another element on
    each site, so the cells carry the symbols and the caption says so; a model whose
    every fit failed says that, not "no data yet"."""
    r = copy.deepcopy(reported.r)
    sd = r["site_distributions"]
    fig, caption = _figure(monkeypatch, figures.fig_site_distributions, r)
    assert "its symbols" not in caption and "their symbols" not in caption
    n = len(sd["elements"])
    sd["site_elements"] = [sd["elements"][:n - 1 - i] for i in range(len(sd["sites"]))]
    m = r["settings"]["models"][0]
    del sd["models"][m]
    r["experiments"]["class1"]["models"][m].update(n_fits=0, failed=[{"seed": 0,
                                                                     "error": "x"}])
    fig, caption = _figure(monkeypatch, figures.fig_site_distributions, r)
    assert "each site's own elements by position (their symbols in the cells)" in caption
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sd["site_elements"][1][-1] in texts
    assert "every fit failed: see the class-1 table" in texts
    assert any(ax.get_title(loc="left").endswith("(every fit failed)") for ax in fig.axes)


def test_a_site_listing_the_same_elements_in_another_order_gets_its_symbols(monkeypatch,
                                                                             reported):
    """Column j is each site's own j-th element: a site whose list is the space's in another
    order cannot share the space's column labels."""
    r = copy.deepcopy(reported.r)
    sd = r["site_distributions"]
    sd["site_elements"] = [list(sd["elements"])] * (len(sd["sites"]) - 1) + [
        list(reversed(sd["elements"]))]
    fig, caption = _figure(monkeypatch, figures.fig_site_distributions, r)
    assert "their symbols in the cells" in caption
    assert sd["elements"][-1] in [t.get_text() for t in fig.axes[0].texts]


# --------------------------------------------------------------------------- figure cache


class _Recording(dict):
    """A results dict that notes every top-level key read."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def test_figures_read_no_key_the_cache_ignores(reported, tmp_path):
    """The figure cache leaves out of its fingerprint what changes on every run; no figure
    may read it, or a resume would keep a figure its new results changed."""
    from elpagen.report.figure_cache import VOLATILE

    r = _Recording(copy.deepcopy(reported.r))
    plt = layout.pyplot()
    for name, _title, draw in figures._SPECS:
        with plt.rc_context(layout.STYLE):
            draw(r, tmp_path / name)
    assert r.read and not r.read & VOLATILE
    assert {"settings", "experiments", "discovery"} <= r.read


def test_unchanged_figures_are_kept_and_changed_ones_redrawn(reported, tmp_path):
    from elpagen.report import figure_cache

    r = copy.deepcopy(reported.r)
    lines: list[str] = []
    first = figures.make_figures(r, tmp_path, log=lines.append)
    n = len(first)
    assert sum("drawing figure" in x for x in lines) == n
    stamps = {f["file"]: (tmp_path / f["file"]).stat().st_mtime_ns for f in first}
    # A rerun: new run rows, a new date, another machine; nothing a figure shows.
    r2 = copy.deepcopy(r)
    r2["runs"] = [*r2["runs"], {"id": 99, "status": "finished"}]
    r2["generated"], r2["environment"] = "2030-01-01T00:00:00Z", {"host": "elsewhere"}
    lines.clear()
    assert figures.make_figures(r2, tmp_path, log=lines.append) == first
    assert sum("unchanged" in x for x in lines) == n and not any("drawing" in x for x in lines)
    assert {f: (tmp_path / f).stat().st_mtime_ns for f in stamps} == stamps
    # A file deleted (or edited) by hand is drawn again, and only it.
    gone = first[0]["file"]
    layout.svg_path(tmp_path / gone).unlink()
    lines.clear()
    assert figures.make_figures(r2, tmp_path, log=lines.append) == first
    assert [x for x in lines if "drawing" in x] == [f"drawing figure 1/{n}: "
                                                    f"{first[0]['title']} ({gone}, .svg)"]
    # Anything a figure reads, or the labels the catalogue gives, is a new fingerprint.
    fp = figure_cache.fingerprint(r)
    assert figure_cache.fingerprint(r2) == fp
    r3 = copy.deepcopy(r)
    r3["settings"]["samples"]["class1"] += 1
    assert figure_cache.fingerprint(r3) != fp
    # A record that is not ours, or garbage, keeps nothing: every figure is drawn.
    (tmp_path / figure_cache.RECORD).write_text("{not json")
    assert figure_cache.FigureCache(tmp_path, fp).get(gone) is None
    (tmp_path / figure_cache.RECORD).write_text(json.dumps({"fingerprint": fp,
                                                            "figures": ["x"]}))
    assert figure_cache.FigureCache(tmp_path, fp).get(gone) is None
