"""The leaderboard: submission files (:mod:`elpagen.submission`) ranked per class.

Rules (docs/leaderboard.md):

- **Comparable only under one reference.** Every file must carry the same
  ``reference_sha256`` (the fingerprint of the reference energies that scored it), and
  the same as this machine's reference energies when they are cached; otherwise the
  leaderboard refuses, naming the two files (or the file and this machine).
- **Groups.** One table per target class and number of samples per fit (coverage grows
  with N, so rows of different N are not ranked together).
- **Ranking.** By the score precision x coverage of each submission's summary point
  (the means over seeds): the area that point dominates in the precision-coverage plane,
  the hypervolume of one point, so a model can climb neither by precision alone (a few
  compositions repeated) nor by coverage alone (random screening). Ties: higher
  precision, then name. A frontier's own hypervolume is shown beside it, not ranked.
- The published Table 1 points of the catalogue (``catalogue.published``) are listed
  beside the class's rows of 10,000 samples per fit (the paper's budget), marked
  "published", unranked (scored by the paper's reference energies, not these).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from elpagen import catalogue, metric_specs
from elpagen.errors import InputError
from elpagen.metric_specs import View
from elpagen.submission import Submission, read

FORMAT = "elpagen-leaderboard"
FORMAT_VERSION = 1
#: The published points are at 10,000 valid samples per fit (docs/method.md, section 7):
#: they are listed only beside rows of that budget (coverage grows with N).
PUBLISHED_SAMPLES = 10_000
RANKING = ("precision x coverage of the summary point (means over seeds); "
           "ties: higher precision, then name")


class LeaderboardError(InputError):
    """Submissions that cannot be ranked together (or none at all)."""


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; directories searched recursively for ``submission_*.json``
    (sorted); each file once."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob("submission_*.json"))
            if not found:
                raise LeaderboardError(f"{p}: no submission_*.json file in this directory")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise LeaderboardError(f"{p}: no such file or directory")
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def load(paths: Iterable[str | Path]) -> list[tuple[Path, Submission]]:
    """Every submission, validated (the first bad file raises, one line)."""
    return [(p, read(p)) for p in find_files(paths)]


def check_reference(entries: Sequence[tuple[Path, Submission]],
                    local: str | None = None) -> str:
    """The one ``reference_sha256`` of all entries (and of this machine's reference
    energies, ``local``, when known); :class:`LeaderboardError` names two that differ."""
    if not entries:
        raise LeaderboardError("no submission to rank")
    first_path, first = entries[0]
    for path, sub in entries[1:]:
        if sub.reference_sha256 != first.reference_sha256:
            raise LeaderboardError(
                f"{first_path} and {path} were scored by different reference energies "
                f"(reference_sha256 {first.reference_sha256[:12]}... vs "
                f"{sub.reference_sha256[:12]}...): results compare only under one reference")
    if local is not None and local != first.reference_sha256:
        raise LeaderboardError(
            f"{first_path} was scored by other reference energies than this machine's "
            f"(reference_sha256 {first.reference_sha256[:12]}... vs {local[:12]}...): "
            "rank it where it was scored, or rescore it here")
    return first.reference_sha256


def local_fingerprint(train: Any, sigma: float, lam: float,
                      cache_dir: str | Path | None = None) -> str | None:
    """The fingerprint of this machine's cached reference energies of ``train`` at
    (sigma, lambda); None when they are not cached (never built for a leaderboard)."""
    from elpagen import reference

    directory = Path(cache_dir).expanduser() if cache_dir is not None else reference.cache_dir()
    path = reference.cache_path(train, sigma, lam, directory)
    if not path.exists():
        return None
    try:
        return reference.load(path, train, sigma, lam).fingerprint()
    except reference.ReferenceCacheError:
        return None


def score(sub: Submission) -> float:
    """The ranking score: precision x coverage of the summary point."""
    return sub.summary.precision.mean * sub.summary.coverage.mean


def _ms(m: Any) -> dict[str, float] | None:
    return None if m is None else {"mean": m.mean, "std": m.std}


def _row(path: Path, sub: Submission) -> dict[str, Any]:
    s, g, t, env = sub.summary, sub.generator, sub.task, sub.environment
    return {
        "name": g.name, "label": g.label, "version": g.version, "kind": g.kind,
        "description": g.description, "score": score(sub),
        **{k: _ms(getattr(s, k)) for k in metric_specs.keys(View.LEADERBOARD_ROW)},
        "hypervolume": _ms(sub.frontier.hypervolume) if sub.frontier else None,
        "seeds": len(t.seeds), "protocol": t.model_protocol, "mixture": t.mixture,
        "machine": f"{env.get('processor', '?')}, {env.get('cpus', '?')} CPU(s)",
        "source": sub.source, "file": str(path),
    }


def build(entries: Sequence[tuple[Path, Submission]], *, local: str | None = None,
          target_class: int | None = None, note: str = "") -> dict[str, Any]:
    """The leaderboard document: checks the references, groups, ranks (module doc)."""
    ref = check_reference(entries, local)
    groups: dict[tuple[int, int], list[tuple[Path, Submission]]] = {}
    for path, sub in entries:
        if target_class is None or sub.task.target_class == target_class:
            groups.setdefault((sub.task.target_class, sub.task.samples), []).append((path, sub))
    if not groups:
        raise LeaderboardError(f"no submission for class {target_class}")
    out = []
    for (c, n), members in sorted(groups.items()):
        rows = sorted((_row(p, s) for p, s in members),
                      key=lambda r: (-r["score"], -r["precision"]["mean"], r["name"],
                                     r["version"], r["file"]))
        for i, r in enumerate(rows, 1):
            r["rank"] = i
        published = [{"name": k, "label": catalogue.label(k), "precision": p, "coverage": cv,
                      "score": p * cv}
                     for k, (p, cv) in sorted(catalogue.published(c).items(),
                                              key=lambda kv: -kv[1][0] * kv[1][1])
                     if n == PUBLISHED_SAMPLES]
        r0 = members[0][1].reference
        out.append({"target_class": c, "samples": n, "class_size": r0.class_size,
                    "ideal_coverage": r0.ideal_coverage, "entries": rows,
                    "published": published,
                    "frontiers": {p.as_posix(): _frontier(s) for p, s in members
                                  if s.frontier is not None}})
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "ranking": RANKING,
            "reference_sha256": ref, "reference_check": note, "groups": out}


def _frontier(sub: Submission) -> list[dict[str, Any]]:
    return [{"knob": p.knob, "precision": p.precision.mean, "coverage": p.coverage.mean}
            for p in sub.frontier.points] if sub.frontier else []


# --------------------------------------------------------------------------- rendering


def _merged(group: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Ranked rows and published points in one list, by score."""
    pub = [{**p, "rank": None} for p in group["published"]]
    return sorted([*group["entries"], *pub], key=lambda r: -r["score"])


def _pm(m: Mapping[str, float] | None, digits: int = 4) -> str:
    return "–" if m is None else f"{m['mean']:.{digits}f} ± {m['std']:.{digits}f}"


def _heading(g: Mapping[str, Any]) -> str:
    return (f"Class {g['target_class']}, {g['samples']:,} samples per fit "
            f"(N_c = {g['class_size']:,}; ideal coverage {g['ideal_coverage']:.4f})")


#: The metric columns (the leaderboard's own rounding: published points to 2 decimals,
#: entries ``mean ± std`` to 4).
_METRICS = metric_specs.keys(View.LEADERBOARD)
_COLUMNS = ("#", "generator", "version", "kind",
            *(c.title for c in metric_specs.columns(View.LEADERBOARD)), "P×C",
            "frontier HV", "seeds", "protocol", "machine")


def _cells(r: Mapping[str, Any]) -> list[str]:
    if r["rank"] is None:  # a published point
        return ["–", f"{r['label']} (published, Table 1)", "–", "published",
                *(f"{r[k]:.2f}" for k in _METRICS), f"{r['score']:.4f}",
                "–", "–", "–", "–"]
    return [str(r["rank"]), r["label"] or r["name"], r["version"] or "–", r["kind"],
            *(_pm(r[k]) for k in _METRICS), f"{r['score']:.4f}",
            _pm(r["hypervolume"]), str(r["seeds"]), r["protocol"], r["machine"]]


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def to_markdown(doc: Mapping[str, Any]) -> str:
    """One table per class and sample count (published points unranked, '–')."""
    lines = [f"Ranking: {doc['ranking']}. Reference energies {doc['reference_sha256'][:12]}..."]
    if doc.get("reference_check"):
        lines[0] += f" ({doc['reference_check']})"
    for g in doc["groups"]:
        lines += ["", f"### {_heading(g)}", "",
                  "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        lines += ["| " + " | ".join(_md(c) for c in _cells(r)) + " |" for r in _merged(g)]
        lines += [""] + [f"- {_md(r['label'] or r['name'])} ({_md(r['version'] or '–')}, "
                         f"{_md(r['source'])}): {_md(r['description'] or '–')}"
                         for r in g["entries"]]
    return "\n".join(lines)


def plot_png(group: Mapping[str, Any]) -> bytes:
    """Precision against coverage: every entry's point (mean ± std), its frontier when it
    has one, the published points as stars."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.4, 5.2), layout="constrained")
    for i, r in enumerate(group["entries"]):
        color = catalogue.color(r["name"], f"C{i % 10}")
        text = (f"{r['rank']}. {r['label'] or r['name']} ({r['protocol']}, "
                f"{r['seeds']} seeds)").replace("$", r"\$")
        ax.errorbar([r["coverage"]["mean"]], [r["precision"]["mean"]],
                    xerr=[r["coverage"]["std"]], yerr=[r["precision"]["std"]], fmt="o",
                    color=color, label=text)
        pts = group["frontiers"].get(Path(r["file"]).as_posix(), [])
        if pts:
            ax.plot([p["coverage"] for p in pts], [p["precision"] for p in pts], "-",
                    color=color, lw=0.8, alpha=0.7)
    for p in group["published"]:
        ax.scatter([p["coverage"]], [p["precision"]], marker="*", s=200,
                   color=catalogue.color(p["name"], "0.5"), edgecolors="black", lw=0.6,
                   zorder=5, label=f"{p['label']}, published".replace("$", r"\$"))
    ax.axvline(group["ideal_coverage"], color="0.6", ls=":", lw=1)
    ax.set(xlabel="coverage", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.set_title(_heading(group).replace("$", r"\$"), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def to_html(doc: Mapping[str, Any]) -> str:
    """A self-contained page: per group the table and the plot (base64 PNG); every
    string from a submission is escaped."""
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             "<title>elpagen leaderboard</title><style>body{font-family:sans-serif;"
             "margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:3px 8px;text-align:right}td:nth-child(2){text-align:left}"
             "tr.published{color:#666;font-style:italic}</style></head><body>",
             "<h1>elpagen leaderboard</h1>",
             f"<p>Ranking: {e(doc['ranking'])}. Reference energies "
             f"<code>{e(doc['reference_sha256'])}</code>"
             f"{' (' + e(doc['reference_check']) + ')' if doc.get('reference_check') else ''}"
             ".</p>"]
    for g in doc["groups"]:
        parts += [f"<h2>{e(_heading(g))}</h2>", "<table><tr>"
                  + "".join(f"<th>{e(c)}</th>" for c in _COLUMNS) + "</tr>"]
        for r in _merged(g):
            cls = " class='published'" if r["rank"] is None else ""
            title = "" if r["rank"] is None else f" title='{e(r['description'])}'"
            parts.append(f"<tr{cls}{title}>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r))
                         + "</tr>")
        png = base64.b64encode(plot_png(g)).decode("ascii")
        parts += ["</table><ul>"] + [
            f"<li><b>{e(r['label'] or r['name'])}</b> ({e(r['version'] or '–')}, "
            f"{e(r['source'])}): {e(r['description'] or '–')}</li>" for r in g["entries"]]
        parts += ["</ul>", f"<p><img alt='{e(_heading(g))}' "
                  f"src='data:image/png;base64,{png}'></p>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
