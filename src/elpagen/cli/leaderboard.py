"""`elpagen leaderboard`: submission files scored again from their samples and ranked per
space, target and class (:mod:`elpagen.leaderboard`)."""

from __future__ import annotations

import argparse
from typing import Any

from elpagen.cli.common import CLIError, add_common, emit_json, log


def _local_check(args: argparse.Namespace, referees: Any, entries: Any,
                 verdicts: Any) -> tuple[str | None, str]:
    """This machine's reference fingerprint of the default space when its reference
    energies are cached (never built, nor the DFT file fetched, for this check), and a
    one-line note of what was checked."""
    from elpagen import data, leaderboard, spaces, truth

    if any(v.verified for v in verdicts):
        return None, "every entry with samples scored again against this machine's"
    first = next((s for _, s in entries if s.task.space == spaces.DEFAULT.name
                  and s.task.target == "energy"), None)
    if first is None or first.reference.sigma is None:
        return None, "not checked against this machine: the reference is a data table"
    path = referees.local_data(truth.resolve(None))
    if path is None:
        return None, ("not checked against this machine: no DFT file here (elpagen data "
                      "fetch, or --data PATH)")
    try:
        train = data.load_training_set(path, verify=not args.no_verify)
    except data.DataError as e:
        return None, f"not checked against this machine: no DFT file ({str(e).splitlines()[0]})"
    local = leaderboard.local_fingerprint(train, first.reference.sigma, first.reference.lam,
                                          args.cache_dir)
    if local is None:
        return None, ("not checked against this machine: its reference energies are not "
                      "cached (`elpagen reference` builds them)")
    return local, "the same as this machine's cached reference energies"


NAMES = ("leaderboard.md", "leaderboard.json", "leaderboard.html")


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from elpagen import data, io, leaderboard

    target = data.check_class(args.target_class) if args.target_class is not None else None
    out_dir = None
    if args.output:  # checked before any work, created only once everything is ready
        out_dir = io.check_output_dir(args.output, overwrite=True)
        if out_dir.is_dir():
            for n in NAMES:
                io.check_output(out_dir / n, args.overwrite)
    if args.html:
        from elpagen.leaderboard import site

        site.check_dir(args.html, args.overwrite)
        if out_dir is not None and out_dir.absolute() == site.Path(args.html).absolute():
            raise CLIError("-o and --html name the same directory: give two")
    entries = leaderboard.load(args.paths)
    leaderboard.check_reference(entries)  # two files that differ: refused before any loading
    say = (lambda _m: None) if args.quiet else log
    # Space files of the submissions' spaces: --space-file, and --space FILE as elsewhere.
    space_files = [*(args.space_file or ()), *([args.space] if getattr(args, "space", None)
                                               else [])]
    referees = leaderboard.Referees(args.data, not args.no_verify, args.cache_dir,
                                    space_files, say)
    verdicts = leaderboard.verify_all(entries, referees)
    local, note = _local_check(args, referees, entries, verdicts)
    doc = leaderboard.build(entries, local=local, target_class=target, note=note,
                            verdicts=verdicts, warn=log)
    text = leaderboard.to_markdown(doc)
    if out_dir is not None:
        # Every output rendered (the plots drawn) before any is written: an interrupted run
        # leaves the old files, never new ones beside old ones.
        texts = (text + "\n", io.dumps(doc) + "\n", leaderboard.to_html(doc))
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for n, t in zip(NAMES, texts, strict=True):
                io.atomic_write_text(io.check_output(out_dir / n, args.overwrite), t)
        except OSError as e:
            raise CLIError(f"cannot write to {out_dir}: {e.strerror or type(e).__name__}") \
                from None
        say(f"wrote {', '.join(str(out_dir / n) for n in NAMES)}")
    if args.html:  # rendered whole (plots drawn) before anything is written
        files = site.render(doc, {str(p): s for p, s in entries})
        try:
            site.write(args.html, files, args.overwrite)
        except OSError as e:
            raise CLIError(f"cannot write the site {args.html}: "
                           f"{e.strerror or type(e).__name__}") from None
        say(f"wrote {args.html}/index.html and {sum(n.startswith('models/') for n in files)} "
            "model page(s)")
    if local is None and not any(v.verified for v in verdicts):
        say(f"note: reference energies {note}")
    if args.json:
        emit_json(doc)
    else:
        print(text)
    return 0


def add_meta_opt(p: argparse.ArgumentParser) -> None:
    """``--meta FILE`` of ``benchmark`` and ``frontier``: the submitter's metadata."""
    p.add_argument("--meta", metavar="FILE", default=None,
                   help="metadata for the submission files of -o (JSON, or TOML: authors, "
                        "paper_url, code_url, licence, training_data, date, version, "
                        "description, label; docs/leaderboard.md)")


def add_parsers(sub: Any) -> None:
    """Add this module's subcommand."""
    p = sub.add_parser("leaderboard",
                       help="score submission files (benchmark/frontier -o) again from their "
                            "samples and rank them per space, target and class")
    add_common(p)
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR",
                   help="submission files, or directories searched for submission_*.json")
    p.add_argument("--class", "-c", dest="target_class", type=int, metavar="C",
                   help="only class C (default: every class found)")
    p.add_argument("--json", action="store_true", help="print the leaderboard as JSON")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="also write DIR/leaderboard.md, .json and .html (with the plot)")
    p.add_argument("--html", metavar="DIR",
                   help="also write a static site to DIR (index.html: the table, filterable "
                        "and sortable, and the plots; models/*.html: one page per entry); "
                        "works from file://, no server, no network")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files in DIR (-o), or the site (--html)")
    p.add_argument("--space-file", action="append", metavar="FILE",
                   help="a space file (TOML) named by submissions of a space of your own "
                        "(repeatable): their samples are scored against it")
    p.set_defaults(func=cmd_leaderboard)
