"""The leaderboard as a static site (``elpagen leaderboard --html DIR``): no server, no
network, works from ``file://``.

- ``index.html``: every row of every table in one table (space, target, class, N, rank,
  model, kind, protocol, the metrics, verified), filterable by space, class, protocol and
  kind and sortable by any column (``static/site.js``, plain JavaScript; also from the URL
  hash: ``#sort=coverage-desc&kind=baseline``), then a precision-coverage plot per table.
- ``models/<entry>.html``: one page per row: the model's metadata, how it was run, whether
  it was verified (or why not), its per-seed numbers.

Every string from a submission is cleaned (:func:`render.clean`) and HTML-escaped; a link
is made only of an ``http(s)://`` URL or a DOI. The site is rendered whole in memory, then
written to a temporary directory beside ``DIR`` and renamed into place: an interrupted run
leaves the old site (or none).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from elpagen.errors import InputError
from elpagen.leaderboard.render import clean, heading, plot_png

#: A file in every site this module writes: ``--overwrite`` replaces only such a directory
#: (never one of the user's own).
MARKER = ".elpagen-leaderboard-site"
ASSETS = ("site.js", "site.css")
#: The sortable columns: (key, title, numeric). Each row carries ``data-<key>``.
COLUMNS = (("order", "#", True), ("space", "space", False), ("class", "class", True),
           ("samples", "N", True), ("rank", "rank", True), ("name", "model", False),
           ("kind", "kind", False), ("protocol", "protocol", False),
           ("precision", "precision", True), ("coverage", "coverage", True),
           ("score", "P×C", True), ("js", "JS distance", True),
           ("hypervolume", "frontier HV", True), ("seeds", "seeds", True),
           ("verified", "verified", False))
FILTERS = ("space", "class", "protocol", "kind")


class SiteError(InputError):
    """A site directory that cannot be written or replaced."""


def e(text: Any) -> str:
    """Untrusted text for HTML: cleaned, then escaped (quotes too: safe in attributes)."""
    return html.escape(clean(text), quote=True)


_DOI = re.compile(r"^(?:doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)


def link(url: Any, text: Any = None) -> str:
    """A link to an ``http(s)://`` URL or a DOI (as https://doi.org/...); anything else as
    plain text, never a link."""
    if not url:
        return "–"
    u = clean(url)
    m = _DOI.match(u)
    if m:
        u = "https://doi.org/" + m.group(1)
    if not re.match(r"^https?://[^\s\"'<>]+$", u, re.IGNORECASE):
        return e(url)
    return f'<a href="{html.escape(u, quote=True)}" rel="noopener noreferrer">' \
           f'{e(text if text is not None else url)}</a>'


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", clean(text)).strip("-.") or "entry"


def _page(title: str, body: list[str], up: str = "") -> str:
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{title}</title>",
                      f'<link rel="stylesheet" href="{up}site.css"></head><body>',
                      *body, "</body></html>", ""])


def protocol(r: Mapping[str, Any]) -> str:
    """How a row was run: the protocol, a mixture, the settings given with --set."""
    p = r["protocol"] + (f", mixture {r['mixture']}" if r.get("mixture", 1) > 1 else "")
    return p + (f", --set {r['settings']}" if r.get("settings") else "")


def _num(m: Mapping[str, float] | None) -> str:
    return "" if m is None else repr(float(m["mean"]))


def _pm(m: Mapping[str, float] | None, digits: int = 4) -> str:
    return "–" if m is None else f"{m['mean']:.{digits}f} ± {m['std']:.{digits}f}"


# --------------------------------------------------------------------------- index


def _rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every row of every table, in the board's order, each with its page's file name
    (unique) and its table's index; published points too (no page)."""
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for gi, g in enumerate(doc["groups"]):
        pub = [{**p, "rank": None, "verified": True, "kind": "published"}
               for p in g["published"]]
        merged = sorted([*g["entries"], *pub], key=lambda r: (not r["verified"], -r["score"]))
        for r in merged:
            page = None
            if r["rank"] is not None:
                base = _slug(f"{r['name']}_{r['protocol']}_{g['space']}_{g['target']}_"
                             f"class{g['target_class']}_n{g['samples']}")
                page, k = base, 2
                while page.lower() in used:  # another --set or mixture of the same model
                    page, k = f"{base}_{k}", k + 1
                used.add(page.lower())
                page = f"models/{page}.html"
            out.append({"row": r, "group": g, "gi": gi, "page": page})
    return out


def _data(item: Mapping[str, Any], order: int) -> dict[str, str]:
    r, g = item["row"], item["group"]
    pub = r["rank"] is None
    return {"order": str(order), "space": clean(g["space"]), "target": clean(g["target"]),
            "class": str(g["target_class"]), "samples": str(g["samples"]),
            "rank": "" if pub else str(r["rank"]), "name": clean(r["label"] or r["name"]),
            "kind": clean(r["kind"]), "protocol": "published" if pub else clean(r["protocol"]),
            "precision": repr(float(r["precision"] if pub else r["precision"]["mean"])),
            "coverage": repr(float(r["coverage"] if pub else r["coverage"]["mean"])),
            "score": repr(float(r["score"])),
            "js": "" if pub else _num(r["js_distance"]),
            "hypervolume": "" if pub else _num(r["hypervolume"]),
            "seeds": "" if pub else str(r["seeds"]),
            "verified": "published" if pub else ("yes" if r["verified"] else "no")}


def _cells(item: Mapping[str, Any], data: Mapping[str, str]) -> list[str]:
    r, g = item["row"], item["group"]
    pub = r["rank"] is None
    name = (e(f"{r['label']} (published, Table 1)") if pub else
            f'<a class="model" href="{item["page"]}">{e(r["label"] or r["name"])}</a>')
    proto = "–" if pub else e(protocol(r))
    metric = (lambda k: f"{r[k]:.2f}") if pub else (lambda k: e(_pm(r[k])))
    verified = ("–" if pub else e(r["verification"]))
    target = "" if g["target"] == "energy" else f" ({e(g['target'])})"
    return [data["order"], e(g["space"]) + target, str(g["target_class"]),
            f"{g['samples']:,}", data["rank"] or "–", name, e(r["kind"]), proto,
            metric("precision"), metric("coverage"), f"{r['score']:.4f}",
            "–" if pub else e(_pm(r["js_distance"])),
            "–" if pub else e(_pm(r["hypervolume"])), data["seeds"] or "–", verified]


def _filters(items: list[Mapping[str, str]]) -> list[str]:
    out = ['<form id="filters" class="filters" onsubmit="return false">']
    for key in FILTERS:
        values = sorted({d[key] for d in items},
                        key=lambda v: (int(v) if v.isdigit() else 0, v))
        opts = "".join(f'<option value="{html.escape(v, quote=True)}">{html.escape(v)}'
                       "</option>" for v in values)
        out.append(f'<label>{key} <select name="{key}" data-filter="{key}">'
                   f'<option value="">all</option>{opts}</select></label>')
    out.append('<span id="shown" class="shown"></span></form>')
    return out


def index_html(doc: Mapping[str, Any], items: list[dict[str, Any]],
               plots: list[str]) -> str:
    """The index page: the filterable, sortable table and the plots."""
    datas = [_data(it, i) for i, it in enumerate(items, 1)]
    head = "".join(f'<th data-key="{k}" data-type="{"num" if num else "str"}" tabindex="0" '
                   f'title="sort by {html.escape(t)}">{html.escape(t)}</th>'
                   for k, t, num in COLUMNS)
    body = []
    for it, d in zip(items, datas, strict=True):
        attrs = " ".join(f'data-{k}="{html.escape(v, quote=True)}"' for k, v in d.items())
        cls = ("published" if it["row"]["rank"] is None else
               "verified" if it["row"]["verified"] else "unverified")
        body.append(f'<tr class="{cls}" {attrs}>'
                    + "".join(f"<td>{c}</td>" for c in _cells(it, d)) + "</tr>")
    check = f" ({e(doc['reference_check'])})" if doc.get("reference_check") else ""
    parts = ["<h1>elpagen leaderboard</h1>",
             f"<p>Ranking: {e(doc['ranking'])}. Reference energies "
             f"<code>{e(doc['reference_sha256'])}</code>{check}. "
             "Rows of different space, target, class or N (samples per fit) are not "
             "ranked together: <em>rank</em> is within its table. Click a column header "
             "to sort (again to reverse); the model's name opens its page.</p>",
             *_filters(datas),
             '<div class="scroll"><table id="board"><thead><tr>' + head
             + "</tr></thead><tbody>", *body, "</tbody></table></div>",
             '<p class="legend"><span class="unverified">red</span>: unverified (no samples '
             'to score again: ranked below every verified row of its table); '
             '<span class="published">grey</span>: the paper\'s published Table 1 point, '
             "unranked.</p>", "<h2>Precision against coverage</h2>"]
    for g, png in zip(doc["groups"], plots, strict=True):
        parts += [f"<h3>{e(heading(g))}</h3>",
                  f'<p><img class="plot" src="{png}" alt="{e(heading(g))}"></p>']
    parts.append('<script src="site.js"></script>')
    return _page("elpagen leaderboard", parts)


# --------------------------------------------------------------------------- model pages


def _dl(pairs: list[tuple[str, str]]) -> str:
    return "<table class=\"meta\">" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>"
                                             for k, v in pairs) + "</table>"


def model_html(item: Mapping[str, Any], subs: Mapping[str, Any]) -> str:
    """One row's page: metadata, how it was run, verification, per-seed numbers."""
    r, g = item["row"], item["group"]
    name = e(r["label"] or r["name"])
    sub = subs.get(r["file"])
    authors = r.get("authors") or []
    settings = sub.task.settings if sub is not None else {}
    meta = [("model", f"{name} (<code>{e(r['name'])}</code>)"),
            ("version", e(r["version"] or "–")), ("kind", e(r["kind"])),
            ("description", e(r["description"] or "–")),
            ("authors", e(", ".join(authors)) if authors else "–"),
            ("paper", link(r.get("paper_url"))), ("code", link(r.get("code_url"))),
            ("licence", e(r.get("licence") or "–")),
            ("training data", e(r.get("training_data") or "–")),
            ("date", e(r.get("date") or "–"))]
    run = [("table", e(heading(g))), ("rank", f"{r['rank']} (within its table)"),
           ("protocol", e(r["protocol"])),
           ("mixture", str(r.get("mixture", 1))),
           ("overrides (--set)", "<code>" + e(r["settings"]) + "</code>" if r["settings"]
            else "none"),
           ("settings", "<code>" + e(json.dumps(settings, sort_keys=True)) + "</code>"
            if settings else "none"),
           ("verified", e(r["verification"])), ("machine", e(r["machine"])),
           ("source", e(r["source"])),
           ("files", "<br>".join(e(os.path.basename(f)) for f in r["files"]))]
    summary = [("precision", e(_pm(r["precision"]))), ("coverage", e(_pm(r["coverage"]))),
               ("P×C", f"{r['score']:.4f}"), ("JS distance", e(_pm(r["js_distance"]))),
               ("frontier hypervolume", e(_pm(r["hypervolume"])))]
    body = ['<p><a href="../index.html">← leaderboard</a></p>', f"<h1>{name}</h1>",
            "<h2>The model</h2>", _dl(meta), "<h2>The run</h2>", _dl(run),
            "<h2>Summary (mean ± std over seeds)</h2>", _dl(summary),
            "<h2>Per seed</h2>", _per_seed(r, subs)]
    return _page(f"{name}: elpagen leaderboard", body, "../")


_SEED_COLS = ("seed", "precision", "coverage", "js_distance", "precision_neighbor",
              "coverage_neighbor", "n_samples", "n_valid", "n_unique", "n_novel")


def _per_seed(r: Mapping[str, Any], subs: Mapping[str, Any]) -> str:
    """The per-seed metrics of the row's benchmark file, and each seed's hypervolume and
    the frontier's points of its frontier file."""
    parts = []
    for f in r["files"]:
        sub = subs.get(f)
        if sub is None:
            continue
        if sub.per_seed:
            head = "".join(f"<th>{c}</th>" for c in _SEED_COLS)
            rows = "".join("<tr>" + "".join(
                f"<td>{getattr(s, c):.4f}</td>" if isinstance(getattr(s, c), float)
                else f"<td>{getattr(s, c)}</td>" for c in _SEED_COLS) + "</tr>"
                for s in sub.per_seed)
            parts.append(f'<table class="seeds"><caption>{e(os.path.basename(f))}'
                         f"</caption><tr>{head}</tr>{rows}</table>")
        fr = sub.frontier
        if fr is not None:
            rows = "".join(f"<tr><td>{s}</td><td>{hv:.4f}</td></tr>"
                           for s, hv in zip(sub.task.seeds, fr.hypervolume_per_seed,
                                            strict=False))
            parts.append(f'<table class="seeds"><caption>{e(os.path.basename(f))}: '
                         "frontier hypervolume</caption><tr><th>seed</th>"
                         f"<th>hypervolume</th></tr>{rows}</table>")
            pts = "".join(f"<tr><td>{'–' if p.knob is None else f'{p.knob:g}'}</td>"
                          f"<td>{e(_pm(_ms(p.precision)))}</td>"
                          f"<td>{e(_pm(_ms(p.coverage)))}</td></tr>" for p in fr.points)
            parts.append(f'<table class="seeds"><caption>frontier along {e(fr.knob or "–")}'
                         "</caption><tr><th>knob</th><th>precision</th><th>coverage</th>"
                         f"</tr>{pts}</table>")
    return "\n".join(parts) or "<p>No per-seed numbers in the file.</p>"


def _ms(m: Any) -> dict[str, float]:
    return {"mean": m.mean, "std": m.std}


# --------------------------------------------------------------------------- the site


def render(doc: Mapping[str, Any], subs: Mapping[str, Any]) -> dict[str, bytes]:
    """Every file of the site, by relative path (the plots drawn here). ``subs``: the
    submissions by the path string the rows name (``row["files"]``)."""
    items = _rows(doc)
    files: dict[str, bytes] = {}
    plots = []
    for gi, g in enumerate(doc["groups"]):
        name = _slug(f"plots/{gi + 1}_{g['space']}_{g['target']}_class{g['target_class']}_"
                     f"n{g['samples']}").replace("plots-", "plots/", 1) + ".png"
        files[name] = plot_png(g)
        plots.append(name)
    files["index.html"] = index_html(doc, items, plots).encode("utf-8")
    for it in items:
        if it["page"] is not None:
            files[it["page"]] = model_html(it, subs).encode("utf-8")
    static = resources.files("elpagen.leaderboard") / "static"
    for a in ASSETS:
        files[a] = (static / a).read_bytes()
    files[MARKER] = b"written by elpagen leaderboard --html; --overwrite replaces it whole\n"
    return files


def check_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Check ``--html DIR`` before any work: absent, empty, or (with ``overwrite``) a site
    this module wrote; its nearest existing parent a writable directory."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise SiteError(f"{clean(p)} exists and is not a directory; choose another --html")
        if any(p.iterdir()):
            if not overwrite:
                raise SiteError(f"{clean(p)} exists and is not empty; choose another --html "
                                "or pass --overwrite")
            if not (p / MARKER).is_file():
                raise SiteError(f"{clean(p)} is not a site written by elpagen leaderboard "
                                "--html: not replacing it; choose another --html")
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SiteError(f"cannot write {clean(p)}: {clean(parent)} is not a writable directory")
    return p


def write(path: str | os.PathLike, files: Mapping[str, bytes], overwrite: bool) -> Path:
    """Write the site to a temporary directory beside ``path``, then rename it into place
    (an old site, with ``overwrite``, is moved aside first and removed after)."""
    p = check_dir(path, overwrite)
    p.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.absolute().parent))
    old = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp gives 0700; a site is read by others
        for rel, data in files.items():
            f = tmp / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
        if p.exists() and any(p.iterdir()):
            old = p.with_name(f".{p.name}.old-{os.getpid()}")
            os.rename(p, old)
        os.replace(tmp, p)  # onto an absent or empty directory
    except BaseException:
        if old is not None and not p.exists():
            os.rename(old, p)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(old)
    return p


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m
