"""The leaderboard document (:func:`elpagen.leaderboard.build`) as Markdown (also what the
terminal shows), a self-contained HTML page, and a precision-coverage plot per table.

Every string a submission brings (labels, descriptions, versions, settings, machines, file
names) is untrusted: control characters (terminal escapes, bidi overrides) are removed in
every format, and it is escaped for the format (Markdown: HTML and link syntax; HTML:
entities; the plot: mathtext). The JSON document keeps them as given (JSON escapes them).
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from collections.abc import Mapping
from io import BytesIO
from typing import Any

from elpagen import catalogue, metric_specs
from elpagen.metric_specs import View

#: Entries drawn with their own label and error bars; the rest as one grey cloud (a
#: thousand submissions must not take minutes, nor a legend taller than the page).
PLOT_LABELLED = 20


def clean(text: Any) -> str:
    """One line of printable text: control and format characters (escapes, bidi
    overrides, zero-width) removed, whitespace runs as one space."""
    s = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else " "
                for ch in str(text) if unicodedata.category(ch) not in ("Cf", "Co", "Cn"))
    return " ".join(s.split())


#: What could make a link, an image, emphasis or code, or end a cell (``(`` and ``!`` need
#: a ``[``; ``<`` is an entity already).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text: Any) -> str:
    """Text for a Markdown table cell: clean, HTML-escaped, link and emphasis syntax
    escaped (a ``[x](javascript:...)`` is shown, never a link)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(clean(text), quote=False))


def _merged(group: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Ranked rows and published points in one list: verified rows and published points by
    score, then the unverified rows."""
    pub = [{**p, "rank": None, "verified": True} for p in group["published"]]
    return sorted([*group["entries"], *pub], key=lambda r: (not r["verified"], -r["score"]))


def _pm(m: Mapping[str, float] | None, digits: int = 4) -> str:
    return "–" if m is None else f"{m['mean']:.{digits}f} ± {m['std']:.{digits}f}"


def heading(g: Mapping[str, Any], esc: Any = clean) -> str:
    """A table's title (``esc``: how the space's name, from the files, is escaped)."""
    target = "" if g.get("target", "energy") == "energy" else f", target {esc(g['target'])}"
    return (f"{esc(g.get('space', 'elpasolite'))}{target}: class {g['target_class']}, "
            f"{g['samples']:,} samples per fit (N_c = {g['class_size']:,}; ideal coverage "
            f"{g['ideal_coverage']:.4f})")


_METRICS = metric_specs.keys(View.LEADERBOARD)
COLUMNS = ("#", "generator", "version", "kind",
           *(c.title for c in metric_specs.columns(View.LEADERBOARD)), "P×C",
           "frontier HV", "seeds", "protocol", "verified", "machine")


def _protocol(r: Mapping[str, Any]) -> str:
    p = r["protocol"] + (f", mixture {r['mixture']}" if r.get("mixture", 1) > 1 else "")
    return p + (f", --set {r['settings']}" if r.get("settings") else "")


def cells(r: Mapping[str, Any]) -> list[str]:
    """A row's cells, as plain text (each format escapes them)."""
    if r["rank"] is None:  # a published point
        return ["–", f"{r['label']} (published, Table 1)", "–", "published",
                *(f"{r[k]:.2f}" for k in _METRICS), f"{r['score']:.4f}",
                "–", "–", "–", "–", "–"]
    return [str(r["rank"]), r["label"] or r["name"], r["version"] or "–", r["kind"],
            *(_pm(r[k]) for k in _METRICS), f"{r['score']:.4f}",
            _pm(r["hypervolume"]), str(r["seeds"]), _protocol(r), r["verification"],
            r["machine"]]


def _about(r: Mapping[str, Any]) -> str:
    """The metadata line of an entry (plain text)."""
    bits = [f"{r['version'] or '–'}, {r['source']}"]
    for key, name in (("authors", "authors"), ("paper_url", "paper"), ("code_url", "code"),
                      ("licence", "licence"), ("date", "date")):
        v = r.get(key)
        if v:
            bits.append(f"{name}: {', '.join(v) if isinstance(v, list) else v}")
    if r.get("training_data") and r["training_data"] != "the benchmark's training set":
        bits.append(f"trained on: {r['training_data']}")
    return f"{r['label'] or r['name']} ({'; '.join(bits)}): {r['description'] or '–'}"


def to_markdown(doc: Mapping[str, Any]) -> str:
    """One table per space, target, class and sample count (published points unranked)."""
    lines = [f"Ranking: {doc['ranking']}."]
    if doc.get("reference_check"):
        lines[0] += f" Reference energies: {_md(doc['reference_check'])}."
    for g in doc["groups"]:
        lines += ["", f"### {heading(g, _md)}", "",
                  f"Reference energies {g['reference_sha256'][:12]}...", "",
                  "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_md(c) for c in cells(r)) + " |" for r in _merged(g)]
        lines += [""] + [f"- {_md(_about(r))}" for r in g["entries"]]
    return "\n".join(lines)


def _tex(text: Any) -> str:
    return clean(text).replace("$", r"\$")


_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")


def plot_png(group: Mapping[str, Any]) -> bytes:
    """:func:`plot_figure` as PNG bytes."""
    import matplotlib.pyplot as plt

    fig = plot_figure(group)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def plot_figure(group: Mapping[str, Any]) -> Any:
    """Precision against coverage: the first :data:`PLOT_LABELLED` entries' points (mean ±
    std, each its own colour and marker; unverified ones hollow) and frontiers, the rest as
    one cloud, the published points as stars, lines of equal precision x coverage."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(8.4, 5.2), layout="constrained")
    x = np.linspace(0.01, 1.02, 200)
    for k in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        ax.plot(x, k / x, color="0.85", lw=0.7, zorder=0)
        ax.annotate(f"P×C={k:g}", (min(1.0, k / 0.98), min(0.98, k)), fontsize=6,
                    color="0.55")
    used: set[tuple[str, str]] = set()
    entries = group["entries"]
    for i, r in enumerate(entries[:PLOT_LABELLED]):
        color = catalogue.color(r["name"], f"C{i % 10}")
        marker = next((m for m in _MARKERS if (color, m) not in used), "o")
        used.add((color, marker))
        text = (f"{r['rank']}. {_tex(r['label'] or r['name'])} ({_tex(_protocol(r))}, "
                f"{r['seeds']} seeds{'' if r['verified'] else ', unverified'})")
        ax.errorbar([r["coverage"]["mean"]], [r["precision"]["mean"]],
                    xerr=[r["coverage"]["std"]], yerr=[r["precision"]["std"]], fmt=marker,
                    color=color, mfc=color if r["verified"] else "white", label=text)
        pts = r.get("frontier") or []
        if pts:
            ax.plot([p["coverage"] for p in pts], [p["precision"] for p in pts], "-",
                    color=color, lw=0.8, alpha=0.7)
    rest = entries[PLOT_LABELLED:]
    if rest:
        ax.scatter([r["coverage"]["mean"] for r in rest], [r["precision"]["mean"] for r in rest],
                   s=8, color="0.6", label=f"{len(rest):,} more entries")
    for p in group["published"]:
        ax.scatter([p["coverage"]], [p["precision"]], marker="*", s=200,
                   color=catalogue.color(p["name"], "0.5"), edgecolors="black", lw=0.6,
                   zorder=5, label=f"{_tex(p['label'])}, published")
    ax.axvline(group["ideal_coverage"], color="0.6", ls=":", lw=1)
    ax.set(xlabel="coverage", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.set_title(_tex(heading(group)), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def to_html(doc: Mapping[str, Any]) -> str:
    """A self-contained page: per table the rows and the plot (base64 PNG); every string
    from a submission is cleaned and escaped."""
    def e(text: Any) -> str:
        return html.escape(clean(text))

    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             "<title>elpagen leaderboard</title><style>body{font-family:sans-serif;"
             "margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:3px 8px;text-align:right}td:nth-child(2){text-align:left}"
             "tr.published{color:#666;font-style:italic}tr.unverified{color:#a33}"
             "</style></head><body>",
             "<h1>elpagen leaderboard</h1>",
             f"<p>Ranking: {e(doc['ranking'])}. Reference energies "
             f"<code>{e(doc['reference_sha256'])}</code>"
             f"{' (' + e(doc['reference_check']) + ')' if doc.get('reference_check') else ''}"
             ".</p>"]
    for g in doc["groups"]:
        parts += [f"<h2>{e(heading(g))}</h2>", "<table><tr>"
                  + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr>"]
        for r in _merged(g):
            cls = (" class='published'" if r["rank"] is None
                   else "" if r["verified"] else " class='unverified'")
            title = "" if r["rank"] is None else f" title='{e(r['description'])}'"
            parts.append(f"<tr{cls}{title}>" + "".join(f"<td>{e(c)}</td>" for c in cells(r))
                         + "</tr>")
        png = base64.b64encode(plot_png(g)).decode("ascii")
        parts += ["</table><ul>"] + [f"<li>{e(_about(r))}</li>" for r in g["entries"]]
        parts += ["</ul>", f"<p><img alt='{e(heading(g))}' "
                  f"src='data:image/png;base64,{png}'></p>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
