"""What a study run with ``--quick`` says on every output of its report: a banner on the
page, a badge beside every section heading, a last column on every CSV row and a stamp
across every figure (:func:`elpagen.report.layout.watermark`). Quick budgets are a smoke
test of the pipeline; their tables would otherwise look final."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

#: The words every output of a quick study carries.
QUICK_BANNER = "quick budgets: these numbers are not results"

CSS = """.quick{background:#fdecea;border:3px solid #c0392b;color:#7b1d13;padding:.8em 1.2em;
font-size:1.25em;margin:1em 0}
.quickbadge{font-size:.6em;font-weight:normal;color:#fff;background:#c0392b;
padding:.15em .5em;margin-left:.8em;border-radius:.3em;vertical-align:middle}
"""


def banner(quick: bool) -> str:
    """The banner at the top of the page (empty for a full study)."""
    if not quick:
        return ""
    return (f"<div class='quick' role='alert'><b>{html.escape(QUICK_BANNER.capitalize())}."
            "</b> This study ran with <code>--quick</code>: training budgets and sample "
            "counts cut to smoke-test size, so the models are barely trained; the tables and "
            "figures below show that the pipeline works end to end, not how good a model "
            "is. Run <code>elpagen study</code> without <code>--quick</code> for results."
            "</div>")


def badges(page: str, quick: bool) -> str:
    """``page`` with the banner's words beside every section heading (a reader who jumps
    to a table sees them too)."""
    if not quick:
        return page
    badge = f"<span class='quickbadge'>{html.escape(QUICK_BANNER)}</span>"
    return page.replace("</h2>", f"{badge}</h2>")


def mark_tables(tables: Mapping[str, list[list[Any]]],
                quick: bool) -> dict[str, list[list[Any]]]:
    """The CSV tables, each row of a quick study ending in a ``budgets`` column with the
    banner's words (a row copied on its own keeps them; the header stays the first line)."""
    if not quick:
        return dict(tables)
    return {name: [[*rows[0], "budgets"], *([*row, QUICK_BANNER] for row in rows[1:])]
            for name, rows in tables.items()}
