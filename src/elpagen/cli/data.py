"""`elpagen data`, `reference` and `evaluate`: the training data, the reference energies,
scores."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from elpagen.cli.common import (
    CLIError,
    add_common,
    cli_space,
    cli_truth,
    emit_json,
    load_reference,
    load_train,
    log,
)


def cmd_data(args: argparse.Namespace) -> int:
    from elpagen import data

    if args.action == "fetch":
        return cmd_data_fetch(args)
    if args.url is not None or args.from_file is not None:
        raise CLIError("--url and --from-file go with `elpagen data fetch`")
    if cli_truth(args).data is not None:
        return _table_stats(args)
    dft = data.load_dft(args.data, verify=not args.no_verify, space=cli_space(args))
    train = data.training_set(dft)
    space = train.space
    el = train.elements
    # Counts of each element on each site (indices into the site's own element list),
    # computed once for JSON and the table.
    counts = [np.bincount(el[:, s], minlength=site.size) for s, site in enumerate(space.sites)]
    freqs = {
        site.name: {site.elements[z]: int(n) for z, n in enumerate(counts[s]) if n}
        for s, site in enumerate(space.sites)
    }
    out = {
        "path": dft.path,
        "sha256": dft.sha256,
        "raw": len(dft),
        "twin_pairs": data.n_twin_pairs(dft),
        "augmented": len(train),
        "energy_min": float(dft.energies.min()),
        "energy_max": float(dft.energies.max()),
        "class_width": train.energy_classes.width,
        "class_edges": train.energy_classes.edges.round(4).tolist(),
        "class_counts": {str(i + 1): int(n) for i, n in enumerate(train.class_counts())},
        "site_element_counts": freqs,
    }
    if args.json:
        emit_json(out)
        return 0
    print(f"DFT file      {dft.path}")
    twins = f" ({out['twin_pairs']} {_twin_name(space)} twin pairs)" if space.symmetries else ""
    print(f"rows          {out['raw']:,}{twins}")
    print(f"augmented     {out['augmented']:,} unique compositions")
    print(f"energies      {out['energy_min']:.4f} .. {out['energy_max']:.4f} eV/atom, "
          f"10 classes of {out['class_width']:.4f} eV/atom")
    print("class counts  " + "  ".join(f"{k}:{v}" for k, v in out["class_counts"].items()))
    print("per-site element counts (augmented set):")
    print("      " + "".join(f"{s:>6}" for s in space.site_names))
    for sym in space.elements:
        print(f"{sym:<6}" + "".join(f"{freqs[site.name].get(sym, 0):>6}"
                                    for site in space.sites))
    return 0


def _twin_name(space) -> str:
    """The sites the space's first symmetry swaps, as ``A/B``."""
    perm = space.symmetries[0]
    moved = [space.site_names[i] for i, p in enumerate(perm) if p != i]
    return "/".join(moved)


def _table_stats(args: argparse.Namespace) -> int:
    """`elpagen data --space NAME|FILE` of a space given by a data table."""
    from elpagen import truth

    t = cli_truth(args)
    table = truth.read(t, args.data, verify=not args.no_verify)
    train = load_train(args)
    ec = train.energy_classes
    out: dict[str, Any] = {
        "space": t.space.name, "path": table.path, "sha256": table.sha256,
        "rows_with_values": len(table), "rows_missing": table.n_missing,
        "training_set": len(train), "reference": t.reference,
        "energy_min": float(table.energies.min()), "energy_max": float(table.energies.max()),
        "class_width": ec.width,
        "class_counts": {str(i + 1): int(n)
                         for i, n in enumerate(np.bincount(ec.assign(table.energies) - 1,
                                                           minlength=ec.n))},
    }
    if table.stability is not None:
        out["stable_0.025"] = int((table.stability <= 0.025).sum())
    if args.json:
        emit_json(out)
        return 0
    print(f"data file     {table.path} ({t.space.name} space, {t.space.formula_pattern})")
    print(f"rows          {len(table):,} with values, {table.n_missing:,} missing")
    print(f"training set  {len(train):,} compositions (the models see these; the reference is "
          f"{'the whole table' if t.is_table else 'a kernel ridge fit on them'})")
    print(f"energies      {out['energy_min']:.4f} .. {out['energy_max']:.4f} eV/atom, "
          f"10 classes of {ec.width:.4f} eV/atom")
    print("class counts  " + "  ".join(f"{k}:{v}" for k, v in out["class_counts"].items()))
    if "stable_0.025" in out:
        print(f"stable        {out['stable_0.025']:,} within 0.025 eV/atom of the hull")
    return 0


def _fetch_published(args: argparse.Namespace) -> int:
    """`elpagen data fetch --space NAME` of a space whose data are a published plain file."""
    from elpagen import fetch

    t = cli_truth(args)
    pub = t.published
    if pub is None:
        raise CLIError(f"the {t.space.name} space has no published data file to fetch; its "
                       "data are named in its space file")
    dest = fetch.data_dir() / pub.file_name
    if _already_there(args, dest, pub.sha256):
        return 0
    got = fetch.fetch_published(args.url or pub.url, pub.sha256, pub.size, dest,
                                from_file=args.from_file)
    if args.json:
        emit_json({"path": got.path, "sha256": got.sha256, "rows": got.rows,
                   "source": got.source, "seconds": round(got.seconds, 4)})
        return 0
    print(f"data file     {got.path}")
    print(f"rows          {got.rows:,} ({pub.citation})")
    print(f"source        {got.source}")
    print(f"sha256        {got.sha256} (the published file)")
    print(f"every command now finds it with --space {t.space.name}")
    return 0


def _already_there(args: argparse.Namespace, dest, sha256: str) -> bool:
    """True (and a line saying so) when ``dest`` is already the published file and neither
    --force nor a source (--url, --from-file) asks to fetch it again: nothing to do, no
    network needed. A file of another sha256 there (an edited copy) is never replaced
    without --force."""
    from elpagen import data

    if args.force or not dest.is_file():
        return False
    if data.sha256_of(dest) != sha256:
        raise CLIError(f"{dest} is there but is not the published file (sha256 differs: an "
                       "edited copy?); move it away or pass --force to replace it")
    if args.url is not None or args.from_file is not None:
        return False
    if args.json:
        emit_json({"path": dest, "sha256": sha256, "already_present": True})
    else:
        print(f"{dest}: already present, sha256 ok (--force fetches it again)")
    return True


def cmd_data_fetch(args: argparse.Namespace) -> int:
    """`elpagen data fetch`: get the published CSV into the data directory."""
    from elpagen import data, fetch

    if args.data is not None or args.no_verify:
        raise CLIError("`elpagen data fetch` stores the published file; --data and "
                       "--no-verify name a file of your own (use it directly instead)")
    if args.url is not None and not args.url.strip():
        raise CLIError("--url is empty; give a mirror's URL, or drop --url for the published "
                       "source")
    if cli_truth(args).data is not None:
        return _fetch_published(args)
    if _already_there(args, fetch.fetched_path(), data.EXPECTED_SHA256):
        return 0
    got = data.fetch_data(url=args.url, from_file=args.from_file)
    out = {
        "path": got.path,
        "sha256": got.sha256,
        "rows": got.rows,
        "source": got.source,
        "source_sha256": got.source_sha256,
        "doi": fetch.DOI,
        "seconds_download": round(got.seconds_download, 4),
        "seconds_convert": round(got.seconds_convert, 4),
        "seconds": round(got.seconds, 4),
    }
    if args.json:
        emit_json(out)
        return 0
    print(f"DFT file      {got.path}")
    print(f"rows          {got.rows:,} (Faber et al. 2016, doi:{fetch.DOI})")
    print(f"source        {got.source}")
    print(f"sha256        {got.sha256} (the published CSV; source {got.source_sha256[:12]}...)")
    print(f"seconds       {got.seconds:.2f} (conversion {got.seconds_convert:.3f})")
    print("every command now finds it without --data")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from elpagen import metrics

    train = load_train(args)
    t0 = time.perf_counter()
    ref, loaded = load_reference(args, train, rebuild=args.rebuild)
    sizes = metrics.class_sizes(ref.classes)
    out = {
        "holdout_mae": ref.holdout_mae,
        "sigma": ref.sigma,
        "lambda": ref.lam,
        "class_sizes": {str(i + 1): int(n) for i, n in enumerate(sizes)},
        "seconds": round(time.perf_counter() - t0, 3),
        "build_seconds": ref.seconds,
        "from_cache": loaded,
        "n_compositions": int(sizes.sum()),
    }
    if args.json:
        emit_json(out)
        return 0
    print(f"Laplacian (L1) kernel ridge regression: sigma = {ref.sigma:g}, lambda = {ref.lam:g}")
    together = f", {_twin_name(train.space)} twins together" if train.space.symmetries else ""
    print(f"held-out MAE  {ref.holdout_mae:.4f} eV/atom (20 % of the DFT set{together})")
    print(f"{'class':>5} {'compositions':>13} {'share':>8}")
    for k, n in out["class_sizes"].items():
        print(f"{k:>5} {n:>13,} {n / out['n_compositions']:>8.2%}")
    print(f"{'all':>5} {out['n_compositions']:>13,}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from elpagen import data, io, metrics

    target = data.check_class(args.target_class)
    if args.smact:  # the extra is there, before any work
        from elpagen.materials import require

        require("smact", "pymatgen.core")
    space = cli_space(args)
    scan = io.scan_samples(args.samples, space=space)
    codes, n_rows = scan.codes.astype(space.code_dtype), scan.n_rows
    skipped = io.invalid_rows_warning(scan)  # which rows count as invalid, and why
    if len(codes) == 0:
        raise CLIError(f"{args.samples}: no valid compositions among {n_rows} rows"
                       + (f"; {skipped}" if skipped else ""))
    if skipped:
        log(f"warning: {args.samples}: {skipped}")
    train = load_train(args)
    ref, _ = load_reference(args, train)
    m = metrics.evaluate(codes, target, ref.classes, train.codes, n_drawn=n_rows,
                         space=train.space)
    m.update(space=train.space.name, target=train.target, target_class=target)
    if args.smact:  # the materials extra: SMACT pass fractions of the valid and unique samples
        from elpagen import smact_screen

        m.update(smact_screen.sample_fractions(codes, space=train.space,
                                                  cache_dir=args.cache_dir))
    if args.json:
        emit_json(m)
        return 0
    for k, v in m.items():
        print(f"{k:<20} {v:.6g}" if isinstance(v, float) else f"{k:<20} {v}")
    return 0


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands."""
    p = sub.add_parser(
        "data", help="counts of the DFT training data; `data fetch` downloads it",
        description="Without ACTION: counts of the DFT training data. `elpagen data fetch`: "
                    "download the public source (train_set.pkl of "
                    "jeherr/Elpasolite-Formation-Energy-Predictor at a pinned commit), check "
                    "its sha256, convert it without running pickle code, check the CSV's "
                    "sha256 and store it in the user data directory ($ELPAGEN_DATA_DIR), "
                    "where every command finds it without --data.")
    p.add_argument("action", nargs="?", choices=["fetch"], metavar="ACTION",
                   help="fetch: download, check and store the published DFT file")
    add_common(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--url", metavar="URL",
                     help="fetch: a mirror of train_set.pkl (default: the pinned GitHub URL, "
                          "or $ELPAGEN_DATA_URL)")
    src.add_argument("--from-file", metavar="PKL",
                     help="fetch: convert a local copy of train_set.pkl (no download); with "
                          "--space perovskite: a local copy of the published table")
    p.add_argument("--force", action="store_true",
                   help="fetch: download again even when the published file is present, and "
                        "replace a file of another sha256 there (an edited copy)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_data)

    # `oracle` is the command's old name, still accepted.
    p = sub.add_parser("reference", aliases=["oracle"],
                       help="build or load the full-space reference energies (alias: oracle)")
    add_common(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the cache and rebuild")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_reference)

    p = sub.add_parser("evaluate", help="score a CSV of compositions for a target class")
    add_common(p)
    p.add_argument("samples", metavar="SAMPLES.csv",
                   help="CSV whose header is the space's site names (e.g. A,B,C,D)")
    p.add_argument("--target-class", "-c", type=int, required=True, help="class 1..10")
    p.add_argument("--smact", action="store_true",
                   help="add the SMACT pass fractions (needs pip install 'elpagen[materials]')")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)
