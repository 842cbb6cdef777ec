"""`elpagen export` and `smact`: crystal structures of samples, and SMACT's chemical screen.

Both need the optional extra: ``pip install 'elpagen[materials]'`` (pymatgen, ase, smact).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from elpagen.cli.common import (
    CLIError,
    add_common,
    cli_space,
    emit_json,
    load_reference,
    load_train,
    log,
)


def cmd_export(args: argparse.Namespace) -> int:
    from elpagen import data, io, materials
    from elpagen.memory import format_bytes

    # Every check before the reference energies are loaded.
    fmt = materials.check_format(args.format)
    to_stdout = io.is_stdout(args.output)  # -o -: the structures on stdout, logs on stderr
    if to_stdout and fmt in materials.ZIP_FORMATS:
        raise CLIError(f"{fmt} is a zip file, which cannot go to standard output; give a "
                       "file name for -o, or use --format extxyz or jsonl")
    if to_stdout and args.json:
        raise CLIError("--json prints to standard output, which -o - already writes the "
                       "structures to; drop one of them")
    out = "-" if to_stdout else io.check_output(args.output, args.overwrite)
    materials.require("pymatgen.core", "ase") if fmt == "extxyz" else materials.require()
    target = data.check_class(args.target_class) if args.target_class is not None else None
    if args.seed is not None and abs(args.seed) >= 2**63:
        raise CLIError(f"--seed must be below 2**63 in size, got {args.seed}")
    scan, notes = materials.scan_sample_rows(args.samples, space=cli_space(args))
    if len(scan.codes) == 0:
        raise CLIError(f"{args.samples}: no valid compositions among {scan.n_rows} rows")
    n_structures = len(np.unique(scan.codes))
    est = (materials.estimate(n_structures, fmt, args.primitive) if to_stdout else
           materials.check_disk(out, fmt, n_structures, args.primitive))
    model = args.model
    if model is not None and materials.clean_text(model) != model:
        model = materials.clean_text(model)
        notes.append(f"--model held characters other than {materials.SAFE_CHARS} or more "
                     f"than {materials.MAX_TEXT} characters; written sanitised as {model!r}")
    for note in notes:
        log(f"warning: {note}")
    train = load_train(args)
    ref, _ = load_reference(args, train)
    if not args.quiet and est["seconds"] > 60:
        log(f"exporting {n_structures:,} structures as {fmt}: about "
            f"{format_bytes(est['bytes'])}, about {est['seconds'] / 60:.0f} minutes")
    where = "standard output" if to_stdout else str(out)
    try:
        summary = materials.export(scan.codes, fmt, out, overwrite=args.overwrite,
                                   primitive=args.primitive, progress=not args.quiet,
                                   reference=ref, space=train.space, model=model,
                                   seed=args.seed,
                                   target_class=target, extra=scan.extra)
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error
        io.quiet_broken_pipe()
        return 0
    summary["n_rows"] = scan.n_rows
    summary["n_invalid_rows"] = scan.n_invalid
    if args.json:
        emit_json(summary)
    else:
        repeats = summary["n_samples"] - summary["n_structures"]
        merged = (f" ({repeats:,} repeat{'s' if repeats != 1 else ''} of a composition "
                  "counted in n_draws)" if repeats else "")
        skipped = f", {scan.n_invalid:,} invalid rows skipped" if scan.n_invalid else ""
        log(f"wrote {summary['n_structures']:,} structures ({summary['atoms_per_structure']} "
            f"atoms each, {fmt}) of {summary['n_samples']:,} valid samples{merged}"
            f"{skipped} to {where}")
    return 0


def cmd_smact(args: argparse.Namespace) -> int:
    from elpagen import io, materials, smact_screen

    materials.require("smact", "pymatgen.core")  # the extra, before any work
    samples = None
    if args.samples:
        samples, n_rows = io.read_samples(args.samples, space=cli_space(args))
        if len(samples) == 0:
            raise CLIError(f"{args.samples}: no valid compositions among {n_rows} rows")
    if args.per_class is not None and args.per_class <= 0:
        raise CLIError(f"--per-class must be positive, got {args.per_class}")
    train = load_train(args)
    ref, _ = load_reference(args, train)
    whole = args.per_class is None
    if not whole:
        sizes = ref.class_sizes()
        if smact_screen.whole_space_instead(args.per_class, sizes):
            whole = True  # a sample that large costs what the (cached) whole space costs
            n, top = args.per_class, int(sizes.max())
            why = (f"is at least the largest class ({top:,} compositions)" if n >= top else
                   f"would screen {int(np.minimum(sizes, min(n, top)).sum()):,} of the "
                   f"{int(sizes.sum()):,} compositions")
            log(f"--per-class {n:,} {why}: screening the whole space instead (exact "
                "fractions, cached for later calls)")
    if whole and smact_screen.table(args.cache_dir, build=False,
                                                     space=train.space) is None and not args.quiet:
        log("screening the whole space once (5 to 17 minutes on one core; then cached)")
    res = smact_screen.fractions(train, ref, samples=samples, per_class=args.per_class,
                                 seed=args.seed, cache_dir=args.cache_dir,
                                 progress=not args.quiet)
    if args.json:
        emit_json(res)
        return 0
    print(f"SMACT {res['smact']}: {res['settings']}")
    print(f"space: {res['space_mode']}")
    print(f"{'class':>5} {'compositions':>13} {'space':>8} {'training':>9}")
    for k, row in res["classes"].items():
        tr = res["training_classes"][k]
        print(f"{k:>5} {row['compositions']:>13,} {row['smact_fraction']:>8.4f} "
              f"{'-' if tr is None else f'{tr:.4f}':>9}")
    print(f"{'all':>5} {sum(r['compositions'] for r in res['classes'].values()):>13,} "
          f"{res['space_fraction']:>8.4f} {res['training_set']['smact_fraction']:>9.4f}")
    if samples is not None:
        s = res["samples"]
        print(f"samples: {s['smact_valid']:.4f} of the valid, {s['smact_unique']:.4f} of the "
              f"{s['smact_n_unique']:,} unique pass")
    return 0


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands."""
    p = sub.add_parser("export", help="crystal structures (the space's cubic prototype: "
                                      "elpasolite Fm-3m, perovskite Pm-3m) of a samples CSV "
                                      "as cif, poscar, extxyz or jsonl")
    add_common(p)
    p.add_argument("samples", metavar="SAMPLES.csv",
                   help="CSV whose header is the space's site names (e.g. A,B,C,D)")
    p.add_argument("--format", "-f", required=True, metavar="FORMAT",
                   help="cif or poscar (a zip, one file per composition), extxyz or jsonl")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="file to write; - for standard output (extxyz and jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--model", help="model name for the metadata (a 'model' column wins)")
    p.add_argument("--seed", type=int, help="seed for the metadata (a 'seed' column wins)")
    p.add_argument("--target-class", "-c", type=int, help="target class for the metadata")
    p.add_argument("--primitive", action="store_true",
                   help="the 10-atom primitive cell instead of the 40-atom conventional one")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("smact", help="SMACT charge-neutrality + electronegativity pass "
                                     "fractions: training set, each class, a samples CSV")
    add_common(p)
    p.add_argument("--samples", metavar="SAMPLES.csv", help="also screen this samples CSV")
    p.add_argument("--per-class", type=int, metavar="N",
                   help="screen a uniform sample of N per class instead of the whole space "
                        "(N at or above the largest class, or half the space: the whole "
                        "space, exact and cached)")
    p.add_argument("--seed", type=int, default=0, help="seed of --per-class (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_smact)
