"""The campaign section of the study report: its records, collection, table and figures.

The campaign experiment (:data:`elpagen.study.plan.Experiment.CAMPAIGN`) stores one unit per
strategy, target class and seed. :func:`collect_campaign` turns them into the document's
``campaign`` object (``campaign.classes.<c>.strategies.<name>`` with ``seeds[]`` {labels,
found} and ``summary`` from :func:`elpagen.campaign.run.summarise`, plus random screening's
expectation and the ideal from :func:`elpagen.campaign.run.expectations`); the records below
are its schema (the walker of :mod:`elpagen.report.schema`, which keeps the field loose and
leaves the check to :func:`check_campaign`: report/schema.py is at its size limit). The
table and figures show each strategy's label and colour from its record
(:mod:`elpagen.campaign.catalogue`; a plug-in the report's process has not loaded: its key
and the next colour of the cycle). A
study without campaign settings (a store written before the experiment existed, or
``--strategies none``) has ``campaign: null`` and no campaign section, figure or table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from elpagen.campaign import catalogue as strategy_catalogue
from elpagen.campaign.run import expectations, summarise
from elpagen.report import layout
from elpagen.report.schema import Failure, Keys, Record, SchemaError, Summary
from elpagen.study.plan import CAMPAIGN_CLASSES, Experiment

#: The figure of each target class, in report order.
FIGURE_FILES: tuple[str, ...] = tuple(f"campaign_class{c}.png" for c in CAMPAIGN_CLASSES)
TABLE_FILE = "table_campaign.csv"
#: Labels bought after which the table shows the compositions found.
TABLE_FOUND_AT = (2_000, 5_000, 10_000)


@dataclass
class CampaignSeed(Record):
    """One campaign: labels bought (0 first, then after each round) and target-class
    compositions found so far (the start set's included), and its seconds."""

    seed: int
    labels: list[int]
    found: list[int]
    seconds: float | None


@dataclass
class CampaignSummary(Record):
    """mean ± std over the seeds (None where a seed does not reach it, or no seed yet)."""

    found_final: Summary | None
    labels_to_25: Summary | None
    labels_to_50: Summary | None
    labels_to_90: Summary | None
    found_at: dict[str, Summary | None]
    auc: Summary | None
    extra: dict[str, Summary | None] = field(default_factory=dict)


@dataclass
class CampaignStrategy(Record):
    """One strategy for one class: each seed's curve, the summary, failed seeds."""

    n_seeds: int
    scores_pool: bool | None
    settings: dict[str, Any]
    seeds: list[CampaignSeed]
    summary: CampaignSummary
    failed: list[Failure]


@dataclass
class CampaignLine(Record):
    """A reference curve on the rounds' labels."""

    labels: list[float]
    found: list[float]


@dataclass
class CampaignExpected(Record):
    """Random screening's exact expectation and the ideal (every label a hit)."""

    random_screening: CampaignLine
    ideal: CampaignLine


@dataclass
class CampaignClass(Record):
    """The campaigns of one target class (``expected``: None until a unit is stored)."""

    target_class: int
    class_size: int
    start_size: int
    start_hits: list[int]
    expected: CampaignExpected | None
    strategies: dict[str, CampaignStrategy]


@dataclass
class CampaignSection(Record):
    """The campaign experiment: its settings and each target class."""

    strategies: list[str]
    start: str
    batch: int
    budget: int
    pool: int | None
    label_noise: float
    quick: bool
    classes: Annotated[dict[str, CampaignClass], Keys(*(str(c) for c in CAMPAIGN_CLASSES))]

    def invariants(self) -> list[str]:
        problems = []
        for key, cc in self.classes.items():
            where = f"campaign.classes.{key}"
            if str(cc.target_class) != key:
                problems.append(f"{where}.target_class: expected {key}")
            problems += [f"{where}.strategies.{s}: missing" for s in self.strategies
                         if s not in cc.strategies]
            for name, st in cc.strategies.items():
                problems += [f"{where}.strategies.{name}.seeds[{i}]: labels and found differ "
                             "in length" for i, r in enumerate(st.seeds)
                             if len(r.labels) != len(r.found)]
        return problems


def check_campaign(obj: Any) -> list[str]:
    """Problems of a document's ``campaign`` object (None: no campaign experiment)."""
    if obj is None:
        return []
    try:
        CampaignSection.from_json(obj, path="campaign")
    except SchemaError as e:
        return e.problems
    return []


# --------------------------------------------------------------------------- collection


def collect_campaign(units: Sequence[Mapping[str, Any]], settings: Mapping[str, Any],
                     ref: Mapping[str, Any] | None) -> CampaignSection | None:
    """The campaign section from the stored units (rows of ``Store.units()``) and the raw
    study settings; None for a study without campaign settings."""
    camp = settings.get("campaign")
    if not camp:
        return None
    budget, batch = int(camp["budget"]), int(camp["batch"])
    rows = [u for u in units if u["experiment"] == Experiment.CAMPAIGN]
    classes = {}
    for c in CAMPAIGN_CLASSES:
        n_class = int(ref["class_sizes"][c - 1]) if ref else 0
        mine = sorted((u for u in rows if u["target_class"] == c), key=lambda u: u["seed"])
        ok = [u for u in mine if u["status"] == "ok"]
        hits = {u["seed"]: int(u["payload"]["start_hits"]) for u in ok}  # one start per seed
        start_size = int(ok[0]["payload"]["start_size"]) if ok else int(camp["start"])
        strategies = {}
        for name in camp["strategies"]:
            runs = [{"seed": u["seed"], "labels": u["payload"]["labels"],
                     "found": u["payload"]["found"], "seconds": u["payload"]["seconds"]}
                    for u in ok if u["model"] == name]
            failed = [Failure(seed=u["seed"], error=u["payload"].get("error", ""))
                      for u in mine if u["model"] == name and u["status"] != "ok"]
            first = next((u["payload"] for u in ok if u["model"] == name), {})
            strategies[name] = CampaignStrategy(
                n_seeds=len(runs), scores_pool=first.get("scores_pool"),
                settings=first.get("settings", camp.get("strategy_settings", {}).get(name, {})),
                seeds=[CampaignSeed(**r) for r in runs],
                summary=CampaignSummary.from_json(summarise(runs, n_class, budget)),
                failed=failed)
        expected = None
        if hits and ref:  # the space's size: the reference artifact's
            lines = expectations(n_class, float(np.mean(list(hits.values()))), start_size,
                                 budget, batch, n_space=int(ref["n_space"]))
            ideal = CampaignLine(**lines.pop("ideal"))
            (screening,) = lines.values()  # the other line: random screening's expectation
            expected = CampaignExpected(CampaignLine(**screening), ideal)
        classes[str(c)] = CampaignClass(target_class=c, class_size=n_class,
                                        start_size=start_size,
                                        start_hits=[hits[s] for s in sorted(hits)],
                                        expected=expected, strategies=strategies)
    return CampaignSection(strategies=list(camp["strategies"]), start=str(camp["start"]),
                           batch=batch, budget=budget, pool=camp["pool"],
                           label_noise=float(camp["label_noise"]),
                           quick=bool(settings.get("quick")), classes=classes)


# --------------------------------------------------------------------------- table


def _cell(s: Mapping[str, Any] | None, n: int, digits: int = 0) -> str:
    """``mean ± std`` (``± –`` for one seed: no spread to show); ``–`` for no value."""
    if not s or s.get("mean") is None:
        return "–"
    spread = f"{s['std']:,.{digits}f}" if n > 1 and s.get("std") is not None else "–"
    return f"{s['mean']:,.{digits}f} <span class='pm'>± {spread}</span>"


def _csv(s: Mapping[str, Any] | None, n: int) -> list[Any]:
    if not s or s.get("mean") is None:
        return ["", ""]
    return [s["mean"], s["std"] if n > 1 and s.get("std") is not None else ""]


def campaign_table(camp: Mapping[str, Any]) -> tuple[str, list[list[Any]]]:
    """The HTML table of the campaign section and its CSV rows: per class and strategy,
    labels to 50 % and 90 % of the class, found after 2,000 / 5,000 / 10,000 labels (those
    within the budget), at the end, and the area under the curve over the ideal's."""
    import html

    at = [str(n) for n in TABLE_FOUND_AT if n <= camp["budget"]]
    keys = ("labels_to_50", "labels_to_90", *(f"found_at_{a}" for a in at), "found_final",
            "auc")
    table: list[list[Any]] = [["class", "strategy", "seeds",
                               *[f"{k}_{p}" for k in keys for p in ("mean", "std")]]]
    head = ("<tr><th>class</th><th>strategy</th><th>seeds</th><th>labels to 50 %</th>"
            "<th>labels to 90 %</th>" + "".join(f"<th>found after {int(a):,}</th>" for a in at)
            + f"<th>found after {camp['budget']:,} (all)</th><th>AUC / ideal</th></tr>")
    rows = []
    for key, cc in camp["classes"].items():
        for name, st in cc["strategies"].items():
            s, n = st["summary"], st["n_seeds"]
            cells = [s["labels_to_50"], s["labels_to_90"],
                     *(s["found_at"].get(a) for a in at), s["found_final"], s["auc"]]
            fails = (f" <span class='small'>({len(st['failed'])} failed)</span>"
                     if st["failed"] else "")
            shown = html.escape(strategy_catalogue.label(name))
            if shown != html.escape(name):  # the key the CSV and the JSON use, beside it
                shown += f" <code>{html.escape(name)}</code>"
            spec = strategy_catalogue.find(name)
            if spec is not None and spec.uses_reference_model_family:
                shown += " †"
            rows.append(f"<tr><td>{key}</td><td>{shown}{fails}</td><td>{n}</td>"
                        + "".join(f"<td>{_cell(x, n, 3 if i == len(cells) - 1 else 0)}</td>"
                                  for i, x in enumerate(cells)) + "</tr>")
            table.append([cc["target_class"], name, n, *[v for x in cells for v in _csv(x, n)]])
    return f"<div class='tw'><table>{head}{''.join(rows)}</table></div>", table


def section_html(camp: Mapping[str, Any], figures: Sequence[str], number: int) -> list[str]:
    """The parts of the report page's campaign section (``figures``: the HTML of
    :data:`FIGURE_FILES`, drawn by the page)."""
    pool = f"{camp['pool']:,}" if camp["pool"] else "the whole space"
    sizes = ", ".join(f"class {cc['target_class']}: {cc['class_size']:,}"
                      for cc in camp["classes"].values())
    return [
        f"<h2>{number}. Discovery campaigns: labels bought against compositions found</h2>",
        f"<p>Each strategy starts from {int(camp['start']):,} random compositions labelled "
        f"for it (the same start set for every strategy of a seed), buys {camp['batch']:,} "
        f"labels a round from the reference energies (Gaussian noise of "
        f"{camp['label_noise']:g} eV/atom on the energies it is told) until "
        f"{camp['budget']:,} labels are bought, and is scored on the compositions of the "
        f"target class found ({sizes} in the space). A scoring strategy sees {pool} "
        "unlabelled candidates per round. One unit per strategy, class and seed "
        "(<code>elpagen campaign</code>, docs/design.md “Discovery campaigns”).</p>",
        *figures,
        campaign_table(camp)[0],
        f"<p class='small'>This table as CSV: <a href='{TABLE_FILE}'>{TABLE_FILE}</a>. "
        "Labels are counted after the start set; found includes the start set's hits; – "
        "where a seed does not reach the fraction within the budget. AUC / ideal: the area "
        "under found / N<sub>c</sub> over the labels bought, divided by the ideal's (every "
        "label a hit). †: ranks with a kernel ridge of the reference energies' own family "
        "(a Laplacian kernel on periods and groups), favoured by construction where the "
        "truth is that model.</p>",
    ]


# --------------------------------------------------------------------------- figure


def figure(r: Mapping[str, Any], path: Path, target_class: int) -> str:
    """Found / N_c against labels bought for every strategy of one class: the mean over
    the seeds with the range of the seeds as a band, random screening's expectation and
    the ideal."""
    plt = layout.pyplot()
    camp = r["campaign"]
    cc = camp["classes"][str(target_class)]
    n_c = max(cc["class_size"], 1)
    fig, ax = plt.subplots(figsize=(10, 6), layout="constrained")
    drawn = False
    for name in camp["strategies"]:
        seeds = cc["strategies"].get(name, {}).get("seeds") or []
        seeds = [s for s in seeds if s["labels"] == seeds[0]["labels"]] if seeds else []
        if not seeds:
            continue
        drawn = True
        labels = np.asarray(seeds[0]["labels"], dtype=float)
        found = np.asarray([s["found"] for s in seeds], dtype=float) / n_c
        line, = ax.plot(labels, found.mean(axis=0), color=strategy_catalogue.color(name),
                        lw=1.8, label=f"{strategy_catalogue.label(name)} ({len(seeds)} "
                                      f"seed{'s' if len(seeds) > 1 else ''})")
        if len(seeds) > 1:
            ax.fill_between(labels, found.min(axis=0), found.max(axis=0),
                            color=line.get_color(), alpha=0.18, lw=0)
    exp = cc.get("expected")
    if exp:
        line = exp["random_screening"]
        ax.plot(line["labels"], np.asarray(line["found"]) / n_c, "k--", lw=1.2,
                label="random screening (exact expectation)")
        line = exp["ideal"]
        ax.plot(line["labels"], np.asarray(line["found"]) / n_c, "k:", lw=1.5,
                label="ideal (every label a hit)")
    marks: list[float] = []
    if drawn:
        # The ideal bounds every curve: a small budget (--quick) is not drawn as a flat line.
        top = min(1.02, 1.08 * max(exp["ideal"]["found"]) / n_c) if exp else 1.02
        ax.set_ylim(0, top)
        marks = [f for f in (0.5, 0.9) if f <= top]  # only those the axes show
        for k, frac in enumerate(marks):
            ax.axhline(frac, color="0.6", lw=0.9, zorder=0, label=None if k else
                       " and ".join(f"{100 * f:.0f} %" for f in marks) + " of the class")
        ax.set_xlabel("labels bought (after the start set)")
        ax.set_ylabel(f"class {target_class} found / {cc['class_size']:,}")
        ax.grid(alpha=0.3)
        layout.figure_legend(fig, *ax.get_legend_handles_labels(), ncol=3)
    else:
        layout.no_data(ax)
    pool = f"pool {camp['pool']:,}" if camp["pool"] else "whole space"
    ax.set_title(f"Discovery campaigns, class {target_class}: start {int(camp['start']):,} "
                 f"random, batch {camp['batch']:,}, {pool}, label noise {camp['label_noise']:g}")
    layout.save(fig, path)
    return (f"Compositions of class {target_class} found (start set included, as a fraction "
            f"of the {cc['class_size']:,} in the space) against the labels bought after the "
            "start set, per strategy: the mean over the seeds, the band the range of the "
            "seeds. Dashed: random screening's exact (hypergeometric) expectation; dotted: "
            "the ideal, every label a hit."
            + (f" Grey lines: {' and '.join(f'{100 * f:.0f} %' for f in marks)} of the class."
               if marks else ""))
