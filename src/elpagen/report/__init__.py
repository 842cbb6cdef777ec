"""The study report, built from the results store alone (no refitting, no rebuilding of the
reference energies).

* :mod:`elpagen.report.collect`: reads the store, assembles the results document
  (``results.json``) and checks it against its schema;
* :mod:`elpagen.report.figures`: every figure (a PNG and an SVG each, matplotlib);
* :mod:`elpagen.report.html`: ``report.html`` and :func:`write_report`, which writes all of
  them into the study directory.

A study that is still running or was interrupted gives a report of what is stored, marked
incomplete; missing data shows as "no data yet" in the figures.
"""

from elpagen.report.collect import (
    COST_KEYS,
    METRIC_KEYS,
    RESULTS_FORMAT,
    RESULTS_VERSION,
    check_results,
    collect,
    cost_row,
)
from elpagen.report.figures import FIGURES, make_figures
from elpagen.report.html import render_html, write_report

__all__ = [
    "COST_KEYS",
    "FIGURES",
    "METRIC_KEYS",
    "RESULTS_FORMAT",
    "RESULTS_VERSION",
    "check_results",
    "collect",
    "cost_row",
    "make_figures",
    "render_html",
    "write_report",
]
