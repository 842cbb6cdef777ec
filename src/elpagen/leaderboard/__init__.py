"""The leaderboard: submission files (:mod:`elpagen.submission`) scored again and ranked.

Rules (docs/leaderboard.md):

- **Scored again.** A file that carries its generations has every headline metric
  recomputed against this machine's reference of its space (:mod:`.verify`); stated numbers
  that differ beyond rounding refuse the file, naming it and the number. A file without
  generations (or whose space's data are not here) is *unverified*: listed, ranked below
  every verified entry of its table.
- **Comparable only under one reference.** The files of one space and target must carry
  the same ``reference_sha256`` (the fingerprint of the reference energies that scored
  them), and the same as this machine's reference when it is known; otherwise the
  leaderboard refuses, naming the two files (or the file and this machine).
- **Tables.** One per space, target, class and number of samples per fit (coverage grows
  with N, so rows of different N are not ranked together).
- **One row per model, protocol and class.** A benchmark and a frontier submission of the
  same model (name, version, protocol, settings given with ``--set``, mixture) are one row:
  the benchmark's numbers, the frontier's hypervolume. The same samples (or numbers) under
  two names are ranked once, with a warning.
- **Ranking.** Verified entries first; then by the score precision x coverage of each
  row's summary point (the means over seeds): the area that point dominates in the
  precision-coverage plane, so a model can climb neither by precision alone nor by
  coverage alone. Ties: higher precision, then name.
- The published Table 1 points of the catalogue (``catalogue.published``: the elpasolite,
  formation energy) are listed beside the class's rows of 10,000 samples per fit (the
  paper's budget), marked "published", unranked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from elpagen import catalogue, metric_specs, spaces
from elpagen.errors import InputError
from elpagen.leaderboard.render import clean, plot_png, to_html, to_markdown
from elpagen.leaderboard.verify import Referees, Verdict, VerificationError, verify_all
from elpagen.metric_specs import View
from elpagen.submission import Submission, read

__all__ = ["FORMAT", "LeaderboardError", "Referees", "Verdict", "VerificationError", "build",
           "check_reference", "find_files", "load", "local_fingerprint", "plot_png", "score",
           "to_html", "to_markdown", "verify_all"]

FORMAT = "elpagen-leaderboard"
FORMAT_VERSION = 2
#: The published points are at 10,000 valid samples per fit (docs/method.md, section 7):
#: they are listed only beside rows of that budget (coverage grows with N).
PUBLISHED_SAMPLES = 10_000
RANKING = ("verified entries first, then precision x coverage of the summary point (means "
           "over seeds); ties: higher precision, then name")


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
                raise LeaderboardError(f"{clean(p)}: no submission_*.json file in this "
                                       "directory")
            out += found
        elif p.exists():
            out.append(p)  # a FIFO or a device is refused when read, in one line
        else:
            raise LeaderboardError(f"{clean(p)}: no such file or directory")
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def load(paths: Iterable[str | Path]) -> list[tuple[Path, Submission]]:
    """Every submission, validated (the first bad file raises, one line)."""
    return [(p, read(p)) for p in find_files(paths)]


def _board(sub: Submission) -> tuple[str, str]:
    return sub.task.space, sub.task.target


def check_reference(entries: Sequence[tuple[Path, Submission]],
                    local: str | None = None) -> str:
    """The one ``reference_sha256`` of the entries of each space and target (and of this
    machine's reference energies, ``local``, when known: the default space's);
    :class:`LeaderboardError` names two that differ. Returns the first entry's."""
    if not entries:
        raise LeaderboardError("no submission to rank")
    first: dict[tuple[str, str], tuple[Path, Submission]] = {}
    for path, sub in entries:
        fp, f = first.setdefault(_board(sub), (path, sub))
        if sub.reference_sha256 != f.reference_sha256:
            raise LeaderboardError(
                f"{clean(fp)} and {clean(path)} were scored by different reference energies "
                f"(reference_sha256 {f.reference_sha256[:12]}... vs "
                f"{sub.reference_sha256[:12]}...): results compare only under one reference")
    if local is not None:
        for (space, target), (fp, f) in first.items():
            if (space, target) == (spaces.DEFAULT.name, "energy") and \
                    local != f.reference_sha256:
                raise LeaderboardError(
                    f"{clean(fp)} was scored by other reference energies than this machine's "
                    f"(reference_sha256 {f.reference_sha256[:12]}... vs {local[:12]}...): "
                    "rank it where it was scored, or rescore it here")
    return entries[0][1].reference_sha256


def local_fingerprint(train: Any, sigma: float, lam: float,
                      cache_dir: str | Path | None = None) -> str | None:
    """The fingerprint of this machine's cached reference energies of ``train`` at
    (sigma, lambda); None when they are not cached (never built for this check)."""
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


# --------------------------------------------------------------------------- rows


def _ms(m: Any) -> dict[str, float] | None:
    return None if m is None else {"mean": m.mean, "std": m.std}


def _settings(overrides: dict[str, Any]) -> str:
    """The settings given with --set, as the command line gives them."""
    return " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}"
                    for k, v in sorted(overrides.items()))


def _row_key(sub: Submission) -> tuple:
    """What makes one row: the board, the table, the model and how it was run."""
    t, g = sub.task, sub.generator
    return (*_board(sub), t.target_class, t.samples, g.name, g.version, t.model_protocol,
            _settings(t.overrides), t.mixture)


def _content(sub: Submission) -> str:
    """What two copies of one submission share, whatever their names: the samples'
    checksums, else the stated numbers. (A frontier's fitted point and the benchmark of
    the same model and seeds draw the same samples: they are one row, not copies.)"""
    kind = "frontier" if sub.frontier is not None else "benchmark"
    if sub.generations is not None:
        return f"{kind} g:" + ",".join(s.sha256 for s in sub.generations.per_seed)
    nums = [[getattr(r, k) for k in ("precision", "coverage", "js_distance", "n_unique",
                                     "n_novel", "n_samples")] for r in sub.per_seed]
    s = sub.summary
    fr = sub.frontier.hypervolume_per_seed if sub.frontier else []
    return f"{kind} n:" + json.dumps([sub.task.target_class, sub.task.samples, nums, fr,
                              s.precision.mean, s.coverage.mean, s.js_distance.mean])


def _row(members: list[tuple[Path, Submission, Verdict]]) -> dict[str, Any]:
    """One row of a model: the benchmark submission's numbers (else the frontier's), the
    frontier's hypervolume."""
    members = sorted(members, key=lambda m: (m[1].frontier is not None, not m[2].verified))
    path, sub, verdict = members[0]
    fr = next((s.frontier for _, s, _ in members if s.frontier is not None), None)
    s, g, t, env = sub.summary, sub.generator, sub.task, sub.environment
    return {
        "name": g.name, "label": g.label, "version": g.version, "kind": g.kind,
        "description": g.description, "score": score(sub),
        **{k: _ms(getattr(s, k)) for k in metric_specs.keys(View.LEADERBOARD_ROW)},
        "hypervolume": _ms(fr.hypervolume) if fr else None,
        "seeds": len(t.seeds), "protocol": t.model_protocol, "settings": _settings(t.overrides),
        "mixture": t.mixture, "verified": verdict.verified, "verification": verdict.label,
        "machine": f"{env.get('processor', '?')}, {env.get('cpus', '?')} CPU(s)",
        "authors": g.authors, "paper_url": g.paper_url, "code_url": g.code_url,
        "licence": g.licence, "training_data": g.training_data, "date": g.date,
        "source": sub.source, "file": str(path),
        "files": [str(p) for p, _, _ in members],
        "frontier": _frontier(fr) if fr else [],
    }


def _frontier(fr: Any) -> list[dict[str, Any]]:
    return [{"knob": p.knob, "precision": p.precision.mean, "coverage": p.coverage.mean}
            for p in fr.points]


def _dedupe(entries: Sequence[tuple[Path, Submission, Verdict]],
            warn: Callable[[str], None]) -> list[tuple[Path, Submission, Verdict]]:
    """Each submission once: a copy (the same samples or numbers) under another name is
    dropped with one warning; of two submissions of one row and kind (benchmark or
    frontier), the verified one, then the newer, is kept, with a warning."""
    seen: dict[str, Path] = {}
    out = []
    for path, sub, v in entries:
        c = _content(sub)
        if c in seen:
            warn(f"warning: {clean(path)} is the same submission as {clean(seen[c])} "
                 "(the same samples or numbers): ranked once")
            continue
        seen[c] = path
        out.append((path, sub, v))
    slots: dict[tuple, tuple[Path, Submission, Verdict]] = {}
    for path, sub, v in out:
        key = (*_row_key(sub), sub.frontier is not None)
        old = slots.get(key)
        if old is not None:
            pair = sorted([old, (path, sub, v)], key=lambda m: m[1].created, reverse=True)
            pair.sort(key=lambda m: not m[2].verified)  # stable: verified, then newer
            keep, drop = pair
            warn(f"warning: {clean(drop[0])} and {clean(keep[0])} are two submissions of "
                 f"{clean(sub.generator.name)} ({clean(sub.task.model_protocol)}): ranking "
                 f"{clean(keep[0])}")
            slots[key] = keep
        else:
            slots[key] = (path, sub, v)
    return list(slots.values())


def build(entries: Sequence[tuple[Path, Submission]], *, local: str | None = None,
          target_class: int | None = None, note: str = "",
          verdicts: Sequence[Verdict] | None = None,
          warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The leaderboard document: checks the references, merges, groups, ranks (module doc).
    ``verdicts``: the entries' (:func:`verify_all`; default: unverified, no samples checked)."""
    check_reference(entries, local)
    if verdicts is None:
        verdicts = [Verdict(False, "not checked")] * len(entries)
    kept = _dedupe([(p, s, v) for (p, s), v in zip(entries, verdicts, strict=True)],
                   warn or (lambda _m: None))
    rows: dict[tuple, list[tuple[Path, Submission, Verdict]]] = {}
    for path, sub, v in kept:
        if target_class is None or sub.task.target_class == target_class:
            rows.setdefault(_row_key(sub), []).append((path, sub, v))
    if not rows:
        raise LeaderboardError(f"no submission for class {target_class}")
    groups: dict[tuple, list[dict[str, Any]]] = {}
    refs: dict[tuple, Submission] = {}
    for key, members in rows.items():
        groups.setdefault(key[:4], []).append(_row(members))
        refs.setdefault(key[:4], members[0][1])
    out = []
    default_space = spaces.DEFAULT.name
    for (space, target, c, n), grp in sorted(groups.items(),
                                             key=lambda kv: (kv[0][0] != default_space,
                                                             kv[0])):
        grp.sort(key=lambda r: (not r["verified"], -r["score"], -r["precision"]["mean"],
                                r["name"], r["version"], r["file"]))
        for i, r in enumerate(grp, 1):
            r["rank"] = i
        points = catalogue.published(c, space, target) if n == PUBLISHED_SAMPLES else {}
        published = [{"name": k, "label": catalogue.label(k), "precision": p, "coverage": cv,
                      "score": p * cv}
                     for k, (p, cv) in sorted(points.items(), key=lambda kv: -kv[1][0] * kv[1][1])]
        sub = refs[(space, target, c, n)]
        out.append({"space": space, "target": target, "target_class": c, "samples": n,
                    "class_size": sub.reference.class_size,
                    "ideal_coverage": sub.reference.ideal_coverage,
                    "reference_sha256": sub.reference_sha256, "entries": grp,
                    "published": published})
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "ranking": RANKING,
            "reference_sha256": entries[0][1].reference_sha256, "reference_check": note,
            "groups": out}
