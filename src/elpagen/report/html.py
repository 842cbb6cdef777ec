"""The report page, and :func:`write_report`, which writes every file of the report.

:func:`write_report` reads ``DIR/study.sqlite`` read-only and writes, each atomically
(temp file + ``os.replace``):

* ``DIR/results.json``: the results document (:func:`elpagen.report.collect`; schema: see
  :func:`elpagen.report.check_results`);
* one PNG and one SVG per figure (:mod:`elpagen.report.figures`);
* ``DIR/report.html`` (:func:`render_html`): inline CSS, the PNGs beside it, captions, the
  metric tables with the ideal-coverage bound, settings, environment, runs; marks a partial study;
* ``DIR/report_standalone.html``: the same page with every figure embedded (base64 PNG
  data URIs), one file to send or archive;
* one CSV per table of the page (:data:`TABLES`): full precision, mean and sd in columns of
  their own (sd empty for one fit: unknown, not zero; the page shows ``± –``).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import metric_specs
from elpagen.data import target_note
from elpagen.metric_specs import MetricSpec, View
from elpagen.report import campaigns, quick
from elpagen.report.collect import check_results, collect
from elpagen.report.figures import class_title, exact_note, make_figures, model_label
from elpagen.study.store import STORE_NAME, Store, atomic_write_bytes, dumps

#: The self-contained copy of the report page (figures embedded).
STANDALONE = "report_standalone.html"
#: The CSV file of every table of the report page, in page order.
TABLES = ("table_class1.csv", "table_class5.csv", "table_training_size.csv",
          "table_cost.csv", "table_frontier.csv", campaigns.TABLE_FILE)  # the last: campaigns

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1400px;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
.tw{overflow-x:auto}.pm{white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
tr.bound td{font-style:italic;background:#fafafa}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
.warn{background:#fff4e0;border:1px solid #f0c070;padding:.6em 1em}
.ok{background:#eef8ee;border:1px solid #9c9;padding:.6em 1em}
code,pre{font-size:.85em;background:#f6f6f6}pre{padding:.5em;overflow-x:auto}
.small{font-size:.85em;color:#555}
""" + quick.CSS


def _spread(text: str) -> str:
    # A narrow column breaks a cell only before its "±", never inside "± std".
    return f"<span class='pm'>± {text}</span>"


def _pm(s: Mapping[str, Any] | None, digits: int = 4, pct: bool = False,
        n: int = 2) -> str:
    """``mean ± std`` over ``n`` fits; ``mean ± –`` for one fit (no spread to show)."""
    if not s or s.get("mean") is None:
        return "–"
    f = 100.0 if pct else 1.0
    if n < 2 or s.get("std") is None:
        return f"{s['mean'] * f:.{digits}f} {_spread('–')}"
    std = f"{s['std'] * f:.{digits}f}"
    return f"{s['mean'] * f:.{digits}f} {_spread(std)}"


def _pm_int(s: Mapping[str, Any] | None, n: int = 2) -> str:
    if not s or s.get("mean") is None:
        return "–"
    if n < 2 or s.get("std") is None:
        return f"{s['mean']:,.0f} {_spread('–')}"
    std = f"{s['std']:,.0f}"
    return f"{s['mean']:,.0f} {_spread(std)}"


# --------------------------------------------------------------------------- CSV tables


def _num(v: Any) -> Any:
    """A CSV cell: numbers at full precision, None empty."""
    return "" if v is None else v


def _csv_pm(s: Mapping[str, Any] | None, n: int) -> list[Any]:
    """The mean and standard-deviation cells of a summary (the deviation empty for one fit)."""
    if not s or s.get("mean") is None:
        return ["", ""]
    return [_num(s["mean"]), _num(s.get("std")) if n > 1 else ""]


def _pm_head(*names: str) -> list[str]:
    return [f"{n}_{part}" for n in names for part in ("mean", "std")]


def csv_text(rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _csv_link(name: str) -> str:
    return f"<p class='small'>This table as CSV: <a href='{name}'>{name}</a>.</p>"


_METRIC_COLUMNS = metric_specs.keys(View.REPORT)
#: The exact expectations of a class table (CSV: ``expected_<key>_mean``, ``..._std``).
_EXPECTED_COLUMNS = metric_specs.keys(View.REPORT_EXPECTED)


def _cell(spec: MetricSpec, s: Mapping[str, Any], n: int) -> str:
    """The HTML cell text of metric ``spec`` of summary ``s`` over ``n`` fits."""
    return _pm_int(s.get(spec), n) if spec.count else _pm(s.get(spec), spec.digits, n=n)


def _metrics_table(e: Mapping[str, Any]) -> tuple[str, list[list[Any]]]:
    """The HTML table of a class experiment and its CSV rows."""
    table: list[list[Any]] = [["model", "fits", *_pm_head(*_METRIC_COLUMNS),
                               "fit_seconds", "sample_seconds",
                               *_pm_head(*(f"expected_{k}" for k in _EXPECTED_COLUMNS))]]
    cols = metric_specs.columns(View.REPORT)
    p, c = MetricSpec.PRECISION, MetricSpec.COVERAGE
    head = ("<tr><th>model</th><th>fits</th>" + "".join(f"<th>{m.title}</th>" for m in cols)
            + f"<th>fit / sample [s]</th><th>exact expectation: {p.title} / {c.title}</th>"
            "</tr>")
    rows = []
    for m, me in e["models"].items():
        s, ex = me["summary"], me.get("expected") or {}  # ex: exact expectations, if any
        n = me["n_fits"]
        times = "–"
        fit = smp = None
        if me["per_seed"]:
            fit = float(np.mean([p.get("fit_seconds") or 0.0 for p in me["per_seed"]]))
            smp = float(np.mean([p.get("sample_seconds") or 0.0 for p in me["per_seed"]]))
            times = f"{fit:.1f} / {smp:.1f}"
        exact = f"{_cell(p, ex, n)} / {_cell(c, ex, n)}" if ex else "–"
        if ex.get("estimate_k"):  # estimated, not exact: a model without a distribution
            exact += (f" <span class='small'>(rarefied from "
                      f"{ex['estimate_k']['mean']:,.0f} draws)</span>")
        fails = f" <span class='small'>({len(me['failed'])} failed)</span>" if me["failed"] else ""
        rows.append(
            f"<tr><td>{html.escape(model_label(m))}{fails}</td><td>{n}</td>"
            + "".join(f"<td>{_cell(k, s, n)}</td>" for k in cols)
            + f"<td>{times}</td><td>{exact}</td></tr>"
        )
        table.append([m, n, *[c for k in _METRIC_COLUMNS for c in _csv_pm(s.get(k), n)],
                      _num(fit), _num(smp),
                      *[c for k in _EXPECTED_COLUMNS for c in _csv_pm(ex.get(k), n)]])
    rows.append(
        "<tr class='bound'><td>ideal coverage bound</td><td></td>"
        + "".join(f"<td>{e['ideal_coverage']:.{k.digits}f}</td>" if k is c else "<td></td>"
                  for k in cols)
        + "<td></td><td></td></tr>"
    )
    bound = ["ideal coverage bound"] + [""] * (len(table[0]) - 1)
    bound[table[0].index("coverage_mean")] = e["ideal_coverage"]
    table.append(bound)
    return f"<div class='tw'><table>{head}{''.join(rows)}</table></div>", table


def _size_table(ts: Mapping[str, Any]) -> tuple[str, list[list[Any]]]:
    cols = metric_specs.columns(View.TRAINING_SIZE)
    head = ("<tr><th>model</th><th>size</th><th>fits</th>"
            + "".join(f"<th>{k.title}</th>" for k in cols) + "</tr>")
    keys = metric_specs.keys(View.TRAINING_SIZE)
    table: list[list[Any]] = [["model", "size", "fits", *_pm_head(*keys)]]
    rows = []
    for m, me in ts["models"].items():
        for b in me["by_size"]:
            s, n = b["summary"], b["n_fits"]
            rows.append(f"<tr><td>{html.escape(model_label(m))}</td><td>{b['size']:,}</td>"
                        f"<td>{n}</td>"
                        + "".join(f"<td>{_cell(k, s, n)}</td>" for k in cols) + "</tr>")
            table.append([m, b["size"], n, *[c for k in keys for c in _csv_pm(s.get(k), n)]])
    return f"<div class='tw'><table>{head}{''.join(rows)}</table></div>", table


_COST_COLUMNS = ("n_checks", "n_train", "found", "random_checks", "ratio",
                 "ratio_with_training")


def _cost_table(c: Mapping[str, Any]) -> tuple[str, list[list[Any]]]:
    head = ("<tr><th>model</th><th>fits</th><th>DFT checks n<sub>checks</sub> (unique "
            "generations)</th><th>training set n<sub>train</sub></th>"
            "<th>found in class 1</th><th>random-screening checks for as many</th>"
            "<th>ratio = random / n<sub>checks</sub></th>"
            "<th>ratio_with_training = random / (n<sub>train</sub> + n<sub>checks</sub>)</th>"
            "</tr>")
    table: list[list[Any]] = [["model", "fits", *_pm_head(*_COST_COLUMNS)]]
    rows = []
    for m, me in c["models"].items():
        s, n = me["summary"], me["n_fits"]
        rows.append(f"<tr><td>{html.escape(model_label(m))}</td><td>{n}</td>"
                    f"<td>{_pm_int(s['n_checks'], n)}</td><td>{_pm_int(s['n_train'], n)}</td>"
                    f"<td>{_pm_int(s['found'], n)}</td>"
                    f"<td>{_pm_int(s['random_checks'], n)}</td>"
                    f"<td>{_pm(s['ratio'], 2, n=n)}</td>"
                    f"<td>{_pm(s['ratio_with_training'], 2, n=n)}</td></tr>")
        table.append([m, n, *[x for k in _COST_COLUMNS for x in _csv_pm(s.get(k), n)]])
    return f"<div class='tw'><table>{head}{''.join(rows)}</table></div>", table


def _frontier_table(fr: Mapping[str, Any]) -> tuple[str, list[list[Any]]]:
    """Hypervolume (mean ± std over the fits) and the non-dominated knob values per model."""
    classes = [k for k in ("class1", "class5") if k in fr]
    table: list[list[Any]] = [["model", "knob"] + [
        col for k in classes for col in (f"{k}_fits", f"{k}_hypervolume_mean",
                                         f"{k}_hypervolume_std", f"{k}_front",
                                         f"{k}_estimate")]]
    head = ("<tr><th>model</th><th>knob</th>"
            + "".join(f"<th>hypervolume, class {fr[k]['target_class']}</th>"
                      f"<th>non-dominated knob values, class {fr[k]['target_class']}</th>"
                      for k in classes) + "</tr>")
    rows = []
    models = list(dict.fromkeys(m for k in classes for m in fr[k]["models"]))
    for m in models:
        cells = []
        line: list[Any] = []
        knob = "–"
        for k in classes:
            me = fr[k]["models"].get(m) or {}
            knob = me.get("knob") or knob
            hv = me.get("hypervolume")
            n = me.get("n_fits", 0)
            knobs = [v for v in me.get("front", []) if v is not None]
            front = ", ".join(f"{v:g}" for v in knobs) or "–"
            estimate = me.get("estimate", "sampled") if me else ""
            how = {"expected": "; exact expectation",
                   "extrapolated": "; coverage extrapolated from N/2 draws"}.get(estimate, "")
            fits = f" <span class='small'>({n} fits{how})</span>" if me else ""
            cells.append(f"<td>{_pm(hv, n=n)}{fits}</td><td>{html.escape(front)}</td>")
            line += [n, *_csv_pm(hv, n), ";".join(f"{v:g}" for v in knobs), estimate]
        rows.append(f"<tr><td>{html.escape(model_label(m))}</td><td>{html.escape(knob)}</td>"
                    f"{''.join(cells)}</tr>")
        table.append([m, "" if knob == "–" else knob, *line])
    return f"<div class='tw'><table>{head}{''.join(rows)}</table></div>", table


def _kv_table(d: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td style='text-align:left'>"
                   f"{html.escape(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
                   for k, v in d.items())
    return f"<table>{rows}</table>"


def _figure(figs: Mapping[str, Mapping[str, str]], name: str,
            images: Mapping[str, str] | None = None) -> str:
    """A figure with its caption: the PNG beside the page, or embedded (``images``: data
    URIs by file name); a link to its SVG copy."""
    f = figs[name]
    src = images[f["file"]] if images else f["file"]
    svg = Path(f["file"]).with_suffix(".svg").name
    return (f"<figure><img src='{html.escape(src)}' alt='{html.escape(f['title'])}'>"
            f"<figcaption><b>{html.escape(f['title'])}.</b> {html.escape(f['caption'])} "
            f"<span class='small'>(<a href='{html.escape(svg)}'>SVG</a>)</span>"
            "</figcaption></figure>")


def data_uri(png: bytes) -> str:
    """A PNG as a data URI, to embed in a page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tables(r: Mapping[str, Any]) -> dict[str, list[list[Any]]]:
    """The CSV rows of every table of the report page, by file name (:data:`TABLES`)."""
    ex = r["experiments"]
    built = (_metrics_table(ex["class1"]), _metrics_table(ex["class5"]),
             _size_table(ex["training_size"]), _cost_table(ex["cost"]),
             _frontier_table(r.get("frontier", {})))
    if r.get("campaign"):  # a study without campaign settings has no campaign table
        built += (campaigns.campaign_table(r["campaign"]),)
    out = {name: rows for name, (_, rows) in zip(TABLES[:len(built)], built, strict=True)}
    return quick.mark_tables(out, r["settings"]["quick"])


def _space_title(r: Mapping[str, Any]) -> str:
    """The space's name as a title word ("Elpasolite"; a document without one: the default)."""
    name = (r.get("space") or {}).get("name")
    if not name:
        from elpagen import spaces

        name = spaces.DEFAULT.name
    return name[:1].upper() + name[1:]


def _finished(run: Mapping[str, Any]) -> str:
    gone = "unknown (process gone)" if run.get("end_unknown") else "–"
    return str(run["finished"]) if run.get("finished") else gone


def render_html(r: Mapping[str, Any], images: Mapping[str, str] | None = None) -> str:
    """The report page of a results document (figures listed in it): the figures as the
    PNG files beside it, or with ``images`` (data URIs by file name) embedded in it."""
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
    sp = r.get("space") or {}
    if sp.get("formula_pattern"):
        status += (f"<p class='small'>Composition space: {html.escape(sp['name'])} "
                   f"({html.escape(sp['formula_pattern'])}), {int(sp.get('n_space') or 0):,} "
                   f"compositions; definition fingerprint <code>"
                   f"{html.escape(str(sp['fingerprint'])[:16])}</code>.</p>")
    if (st.get("target") or "energy") != "energy":  # what "class 1" means below
        status += f"<p class='small'>Target: {html.escape(target_note(st['target']))}</p>"
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
        f"<h1>Generative models in {html.escape(_space_title(r))} composition space: study "
        "report</h1>",
        f"<p class='small'>{html.escape(st['protocol'])} protocol"
        f"{' (quick budgets)' if st['quick'] else ''}, "
        f"{st['seeds']} fit(s) per model, elpagen {html.escape(st['elpagen_version'])}; "
        f"report generated {html.escape(r['generated'])}; total run time {total / 60:.1f} min "
        f"over {len(r['runs'])} run(s).</p>",
        quick.banner(st["quick"]),
        status,
        "<p>Metrics follow docs/method.md section 5: precision counts repeats; coverage "
        "counts distinct compositions of the class over the class size in the full space; the "
        "JS distance compares per-site element distributions of the samples (repeats count, "
        "as a user drawing N samples sees them) with those of the class in the full space "
        "(0 identical, 1 disjoint, ≤ 0.25 good). All values are mean ± standard deviation over "
        "independent fits (seeds). SMACT pass: the fraction of the valid samples that pass "
        "SMACT's charge-neutrality and electronegativity screen (recorded when the materials "
        "extra and its whole-space table, built by <code>elpagen smact</code>, are there; "
        "– otherwise).</p>",
        "<h2>1. The composition space and the training set</h2>",
        _figure(figs, "class_distribution.png", images),
        _figure(figs, "reference_js.png", images),
        f"<h2>2. {class_title(r, 1)}: {samples['class1']:,} valid samples per fit</h2>",
        _metrics_table(ex["class1"])[0], _csv_link("table_class1.csv"),
        f"<p class='small'>Class 1 holds {ex['class1']['class_size']:,} compositions; the "
        f"ideal-coverage bound 1 − (1 − 1/N<sub>c</sub>)<sup>N</sup> is the expected coverage "
        f"of a generator drawing N = {samples['class1']:,} samples uniformly from class 1 "
        "itself. Times are per fit (an ensemble's training time is shared among its seeds). "
        "Exact expectation: the expected precision and coverage of the same number of draws "
        "from the model's own distribution (docs/method.md section 7b; rl, ar, gfn and the "
        "baselines), beside the sampled values, which stay the study's numbers; – where the "
        "distribution is not tractable (vae, gan).</p>",
        f"<h2>3. {class_title(r, 5)}: {samples['class5']:,} valid samples per fit</h2>",
        _metrics_table(ex["class5"])[0], _csv_link("table_class5.csv"),
        f"<p class='small'>Class 5 holds {ex['class5']['class_size']:,} compositions.</p>",
        "<h2>4. Discovery curves</h2>",
        _figure(figs, "discovery_class1.png", images),
        _figure(figs, "discovery_class5.png", images),
        "<h2>5. Energies of the generated class-1 compositions</h2>",
        _figure(figs, "energy_histograms_class1.png", images),
        "<h2>6. Per-site element distributions</h2>",
        _figure(figs, "site_distributions_class1.png", images),
        "<h2>7. Training-set size</h2>",
        _figure(figs, "training_size.png", images),
        _size_table(ex["training_size"])[0], _csv_link("table_training_size.csv"),
        "<h2>8. Cost of discovery</h2>",
        _figure(figs, "cost_of_discovery.png", images),
        _cost_table(ex["cost"])[0], _csv_link("table_cost.csv"),
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
        "<h2>9. Precision-coverage frontiers</h2>",
        _figure(figs, "frontier.png", images),
        _frontier_table(r.get("frontier", {}))[0], _csv_link("table_frontier.csv"),
        "<p class='small'>Every fit of the class-1 and class-5 experiments is sampled again at "
        "each value of its sampling knob (the same sampling seed at every value; "
        f"{samples.get('frontier_class1', 0):,} and {samples.get('frontier_class5', 0):,} "
        "valid samples per value for classes 1 and 5). The hypervolume is the area under a "
        "fit's precision-coverage frontier against (0, 0) (larger is better), mean ± std over "
        "the fits; the non-dominated knob values are those of the mean frontier. The "
        "surrogate is screening, not generation (an energy regressor enumerating the whole "
        "space); the random baseline has no knob. "
        f"{html.escape(exact_note(r.get('frontier', {}), samples))}</p>",
        *(campaigns.section_html(r["campaign"], [_figure(figs, f, images)
                                                 for f in campaigns.FIGURE_FILES], 10)
          if r.get("campaign") else []),
        f"<h2>{11 if r.get('campaign') else 10}. Settings, reference energies, environment</h2>",
        _kv_table({
            "protocol": st["protocol"], "quick": st["quick"], "seeds": st["seed_values"],
            "samples": st["samples"], "training subsets": st["train_sizes"],
            "subset seed": st["subset_seed"], "training set": f"{st['n_train']:,} compositions",
            "data sha256": st["data_sha256"],
            "reference energies": (
                "the space's data table itself (no model)" if o["sigma"] is None else
                f"Laplacian-kernel ridge regression, sigma = {o['sigma']:g}, lambda = "
                f"{o['lambda']:g}, held-out MAE {mae}"),
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
    return quick.badges("\n".join(parts), st["quick"])


# --------------------------------------------------------------------------- entry point


def write_report(directory: str | Path,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Rebuild results.json, every figure (PNG and SVG), report.html, its self-contained
    copy and the CSV tables from ``DIR/study.sqlite``. ``log``: what it is doing, a line
    at each step (reading the store, each figure, writing the files)."""
    say = log or (lambda _msg: None)
    d = Path(directory)
    t0 = time.perf_counter()
    with Store.open_readonly(d) as store:  # refuses a path that is no study first
        say(f"reading the store {d / STORE_NAME}")
        results = collect(store)
    prog = results["progress"]
    say(f"read {prog['done']}/{prog['planned']} units in {time.perf_counter() - t0:.1f} s")
    results["figures"] = make_figures(results, d, log=say)
    problems = check_results(results)
    if problems:  # a bug, not a user error: never write a report that breaks the schema
        raise RuntimeError(f"results.json does not match its schema: {problems[:3]}")
    say(f"writing results.json, report.html, {STANDALONE} and {len(TABLES)} CSV tables")
    atomic_write_bytes(d / "results.json", dumps(results, indent=1).encode())
    written = tables(results)
    for name, rows in written.items():
        atomic_write_bytes(d / name, csv_text(rows).encode())
    atomic_write_bytes(d / "report.html", render_html(results).encode())
    images = {f["file"]: data_uri((d / f["file"]).read_bytes()) for f in results["figures"]}
    atomic_write_bytes(d / STANDALONE, render_html(results, images).encode())
    return {
        "report": str(d / "report.html"),
        "standalone": str(d / STANDALONE),
        "results": str(d / "results.json"),
        "figures": [f["file"] for f in results["figures"]],
        "tables": list(written),
        "planned": prog["planned"],
        "done": prog["done"],
        "complete": results["complete"],
        "quick": bool(results["settings"].get("quick")),
    }
