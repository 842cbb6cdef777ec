"""Every reported metric described once: its key, column labels, digits, direction and the
tables that show it.

A labelled enum in the manner of matbench-discovery's ``Key``/``Model`` enums: each member
*is* its key (a ``str``, the key of the result documents), and carries what a table needs
to print it. The printed benchmark and frontier tables, :class:`elpagen.api.BenchmarkTable`,
the exact expectations (:mod:`elpagen.expected`), the study report's HTML and CSV tables,
submissions, the leaderboard and the agreement check read their columns from here
(:func:`columns`); adding a metric is one member here (and its computation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    """Which way a metric is better."""

    HIGHER = "higher"
    LOWER = "lower"
    NONE = "none"


class View(StrEnum):
    """The tables (and documents) that show metrics; a metric lists those it appears in."""

    BENCHMARK = "benchmark"
    """The printed benchmark table (``harness.benchmark.benchmark_table``) and the metrics
    the agreement check compares per seed."""
    MARKDOWN = "markdown"
    """``BenchmarkTable.to_markdown``."""
    FRONTIER = "frontier"
    """A frontier point's sampled metrics (the printed frontier table, ``POINT_KEYS``)."""
    FRONTIER_EXPECTED = "frontier_expected"
    """A frontier point's exact expectations (``EXPECTED_POINT_KEYS``)."""
    EXPECTED = "expected"
    """The exact expectations of :func:`elpagen.expected.expected_metrics`."""
    REPORT = "report"
    """The study report's class table (HTML and ``table_class<C>.csv``)."""
    REPORT_EXPECTED = "report_expected"
    """The exact expectations in the report's class CSV (``expected_<key>_mean``)."""
    TRAINING_SIZE = "training_size"
    """The report's training-size table."""
    SUBMISSION = "submission"
    """A submission's summary (mean +- std over seeds)."""
    LEADERBOARD = "leaderboard"
    """The leaderboard's metric columns (Markdown and HTML)."""
    LEADERBOARD_ROW = "leaderboard_row"
    """The metrics of a leaderboard row in its JSON."""
    AGREEMENT = "agreement"
    """Compared statistically by the agreement check (the headline pair)."""
    DISCOVERY = "discovery"
    """Kept in every seed's metrics, a benchmark model's summary and every frontier point;
    shown after the headline columns of the printed benchmark and frontier tables and of
    ``BenchmarkTable.to_markdown`` where the result holds it (:func:`present`) and is not
    of the elpasolite (``harness.frontier.optional_columns``); not (yet) part of a
    submission, the leaderboard or the agreement check: results and the shipped reference
    run written before it existed lack it."""


_B, _MD, _F, _FE, _E = (View.BENCHMARK, View.MARKDOWN, View.FRONTIER,
                        View.FRONTIER_EXPECTED, View.EXPECTED)
_R, _RE, _TS, _S = View.REPORT, View.REPORT_EXPECTED, View.TRAINING_SIZE, View.SUBMISSION
_L, _LR, _A = View.LEADERBOARD, View.LEADERBOARD_ROW, View.AGREEMENT
_D = View.DISCOVERY


class MetricSpec(StrEnum):
    """A reported metric, in table order; the value is its key in the result documents.

    ``label``: the header of the printed (plain-text) tables; ``title``: the header of the
    HTML and Markdown tables; ``digits``: decimals shown (a ``count`` shows none, with
    thousands separators); ``direction``: which way is better; ``mean_std``: shown as
    ``mean ± std`` over seeds; ``views``: the tables that show it."""

    label: str
    title: str
    digits: int
    direction: Direction
    count: bool
    mean_std: bool
    views: frozenset[View]

    def __new__(cls, key: str, label: str, title: str, digits: int, direction: Direction,
                views: tuple[View, ...], count: bool = False,
                mean_std: bool = True) -> MetricSpec:
        obj = str.__new__(cls, key)
        obj._value_ = key
        obj.label, obj.title, obj.digits, obj.direction = label, title, digits, direction
        obj.count, obj.mean_std, obj.views = count, mean_std, frozenset(views)
        return obj

    PRECISION = ("precision", "precision", "precision", 4, Direction.HIGHER,
                 (_B, _MD, _F, _FE, _E, _R, _RE, _TS, _S, _L, _LR, _A))
    PRECISION_NEIGHBOR = ("precision_neighbor", "prec. neigh.", "precision (neighbours)", 4,
                          Direction.HIGHER, (_B, _E, _R, _S))
    COVERAGE = ("coverage", "coverage", "coverage", 5, Direction.HIGHER,
                (_B, _MD, _F, _FE, _E, _R, _RE, _TS, _S, _L, _LR, _A))
    COVERAGE_NEIGHBOR = ("coverage_neighbor", "cov. neigh.", "coverage (neighbours)", 5,
                         Direction.HIGHER, (_B, _E, _R, _S))
    COVERAGE_NOVEL = ("coverage_novel", "cov. novel", "coverage (outside training)", 5,
                      Direction.HIGHER, (_D,))
    JS_DISTANCE = ("js_distance", "JS dist.", "JS distance", 4, Direction.LOWER,
                   (_B, _MD, _F, _R, _TS, _S, _LR))
    JS_DISTANCE_LIMIT = ("js_distance_limit", "JS limit", "JS distance (N → ∞)", 4,
                         Direction.LOWER, (_FE, _E, _RE))
    VALID_FRACTION = ("valid_fraction", "valid", "valid fraction", 3, Direction.HIGHER, (_R,))
    N_UNIQUE = ("n_unique", "unique", "unique", 0, Direction.HIGHER, (_E, _R, _S), True)
    N_NOVEL = ("n_novel", "novel", "novel", 0, Direction.HIGHER, (_R,), True)
    SMACT_VALID = ("smact_valid", "SMACT", "SMACT pass", 3, Direction.HIGHER, (_R,))

    @property
    def key(self) -> str:
        """The key of the result documents (the member's value)."""
        return self.value

    @property
    def width(self) -> int:
        """The width of its column in the printed tables: ``mean ± std`` and two spaces."""
        return 2 * self.digits + 9


def columns(view: View) -> tuple[MetricSpec, ...]:
    """The metrics ``view`` shows, in table order."""
    return tuple(m for m in MetricSpec if view in m.views)


def keys(view: View) -> tuple[str, ...]:
    """The keys of :func:`columns` (plain strings)."""
    return tuple(m.value for m in columns(view))


def present(view: View, rows: Iterable[Mapping[str, Any]]) -> tuple[MetricSpec, ...]:
    """The metrics of ``view`` that every one of ``rows`` holds (none without rows): the
    optional columns of a table, absent from results written before they existed."""
    rows = list(rows)
    return tuple(m for m in columns(view) if rows and all(m.value in r for r in rows))


def get(key: str) -> MetricSpec:
    """The description of the metric stored under ``key``."""
    return MetricSpec(key)
