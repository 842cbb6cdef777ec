"""The ``elpagen`` command line.

Every command prints a one-line ``error: ...`` and exits 2 on bad input (an
:class:`elpagen.errors.UserError`); anything else is a bug: its traceback is printed,
with a hint to report it, and the exit code is 3. ``faulthandler`` is on, so even a
native crash prints where it happened.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elpagen import __version__
from elpagen.errors import UsageError, is_user_error

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


#: Exit code of an unexpected exception (a bug): distinct from bad input (2).
EXIT_BUG = 3

#: A user-facing error raised by the command layer itself: one line, exit code 2.
CLIError = UsageError


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# -- shared loading -----------------------------------------------------------------------


def _train(args: argparse.Namespace):
    from elpagen import data

    return data.load_training_set(args.data, verify=not args.no_verify)


def _reference(args: argparse.Namespace, train, *, rebuild: bool = False):
    from elpagen import oracle

    t0 = time.perf_counter()
    ref, loaded = oracle.load_or_build(
        train, cache_dir=args.cache_dir, rebuild=rebuild, progress=not args.quiet
    )
    if not args.quiet:
        how = "loaded from cache" if loaded else "built"
        _log(f"reference energies {how} in {time.perf_counter() - t0:.1f} s")
    return ref, loaded


def _parse_overrides(pairs: Sequence[str] | None, config_file: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if config_file:
        p = Path(config_file)
        if not p.is_file():
            raise CLIError(f"config file not found: {p}")
        try:
            cfg = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise CLIError(f"config file {p} is not JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(cfg, dict):
            raise CLIError(f"config file {p} must hold a JSON object of settings")
        # Accept both {"settings": {...}} (as written by `search --export-best`) and a flat object.
        out.update(cfg.get("settings", cfg))
    for pair in pairs or []:
        if "=" not in pair:
            raise CLIError(f"--set expects KEY=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# -- commands -----------------------------------------------------------------------------


def cmd_data(args: argparse.Namespace) -> int:
    from elpagen import data, space

    dft = data.load_dft(args.data, verify=not args.no_verify)
    train = data.training_set(dft)
    el = train.elements
    # (4, 39) counts of each element on each site, computed once for JSON and the table.
    counts = np.stack([np.bincount(el[:, s], minlength=space.N_ELEMENTS) for s in range(4)])
    freqs = {
        site: {space.ELEMENTS[z]: int(n) for z, n in enumerate(counts[s]) if n}
        for s, site in enumerate(space.SITES)
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
        _emit_json(out)
        return 0
    print(f"DFT file      {dft.path}")
    print(f"rows          {out['raw']:,} ({out['twin_pairs']} A/B twin pairs)")
    print(f"augmented     {out['augmented']:,} unique compositions")
    print(f"energies      {out['energy_min']:.4f} .. {out['energy_max']:.4f} eV/atom, "
          f"10 classes of {out['class_width']:.4f} eV/atom")
    print("class counts  " + "  ".join(f"{k}:{v}" for k, v in out["class_counts"].items()))
    print("per-site element counts (augmented set):")
    print("      " + "".join(f"{s:>6}" for s in space.SITES))
    for z, sym in enumerate(space.ELEMENTS):
        print(f"{sym:<6}" + "".join(f"{int(counts[s, z]):>6}" for s in range(4)))
    return 0


def cmd_oracle(args: argparse.Namespace) -> int:
    from elpagen import metrics

    train = _train(args)
    t0 = time.perf_counter()
    ref, loaded = _reference(args, train, rebuild=args.rebuild)
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
        _emit_json(out)
        return 0
    print(f"Laplacian (L1) kernel ridge regression: sigma = {ref.sigma:g}, lambda = {ref.lam:g}")
    print(f"held-out MAE  {ref.holdout_mae:.4f} eV/atom (20 % of the DFT set, A/B twins together)")
    print(f"{'class':>5} {'compositions':>13} {'share':>8}")
    for k, n in out["class_sizes"].items():
        print(f"{k:>5} {n:>13,} {n / out['n_compositions']:>8.2%}")
    print(f"{'all':>5} {out['n_compositions']:>13,}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from elpagen import data, io, metrics

    target = data.check_class(args.target_class)
    codes, n_rows = io.read_samples(args.samples)
    if len(codes) == 0:
        raise CLIError(f"{args.samples}: no valid compositions among {n_rows} rows")
    train = _train(args)
    ref, _ = _reference(args, train)
    m = metrics.evaluate(codes, target, ref.classes, train.codes, n_drawn=n_rows)
    m["target_class"] = target
    if args.json:
        _emit_json(m)
        return 0
    for k, v in m.items():
        print(f"{k:<20} {v:.6g}" if isinstance(v, float) else f"{k:<20} {v}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from elpagen import data, io, memory
    from elpagen.models.base import load_model
    from elpagen.models.registry import BASELINE_CLASSES

    target = data.check_class(args.target_class)
    if args.n <= 0:
        raise CLIError(f"-n must be a positive number of samples, got {args.n}")
    # Before any work: the samples and their CSV text must fit in memory.
    memory.check_fits(memory.samples_file_bytes(args.n), f"-n {args.n:,}",
                      "ask for fewer samples (several runs with other --seed values add up)")
    out = io.check_output(args.output, args.overwrite)
    if args.model in BASELINE_CLASSES:
        train = _train(args)
        gen = BASELINE_CLASSES[args.model](seed=args.seed).fit(train, target)
    elif Path(args.model).exists():
        model = load_model(args.model, device=args.device)
        if not 0 <= args.member < model.k:
            raise CLIError(f"--member must be 0..{model.k - 1} for {args.model}")
        gen = model.member(args.member) if model.k > 1 else model
    else:
        raise CLIError(
            f"{args.model!r} is neither a baseline ({', '.join(BASELINE_CLASSES)}) "
            "nor a model directory written by `elpagen train`"
        )
    t0 = time.perf_counter()
    try:
        s = gen.sample(args.n, target, seed=args.seed, progress=not args.quiet)
        io.write_samples(out, s.codes, overwrite=args.overwrite)
    except memory.OutOfMemoryError:
        raise
    except MemoryError:  # numpy's _ArrayMemoryError too: one line, not a traceback
        raise memory.OutOfMemoryError(
            f"out of memory drawing or writing {args.n:,} samples; ask for fewer with -n"
        ) from None
    _log(f"wrote {s.n_valid:,} valid samples to {out} ({s.n_invalid:,} invalid proposals "
         f"dropped, {s.n_invalid / max(s.n_drawn, 1):.2%}) in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from elpagen import data, io
    from elpagen.models.base import resolve_config
    from elpagen.models.registry import MODEL_CLASSES

    if args.model not in MODEL_CLASSES:
        raise CLIError(f"unknown model {args.model!r}; choose from {', '.join(MODEL_CLASSES)}")
    cls = MODEL_CLASSES[args.model]
    target = data.check_class(args.target_class) if args.target_class is not None else None
    if not cls.conditional and target is None:
        raise CLIError(f"{args.model} is trained per class: give --target-class 1..10")
    if args.seeds <= 0:
        raise CLIError(f"--seeds must be positive, got {args.seeds}")
    out = io.check_output_dir(args.output, args.overwrite)  # before hours of training
    overrides = _parse_overrides(args.set, args.config)
    config = resolve_config(cls.Config, cls.PROTOCOLS, args.protocol, overrides)
    train = _train(args)
    seeds = list(range(args.seed, args.seed + args.seeds))
    t0 = time.perf_counter()
    model = cls(seeds, config, device=args.device, progress=not args.quiet)
    model.fit(train, target)
    model.save(out, overwrite=args.overwrite)
    _log(f"trained {args.model} ({args.protocol} protocol, seeds {seeds[0]}..{seeds[-1]}) "
         f"in {time.perf_counter() - t0:.1f} s; saved to {out}")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from elpagen import data, experiments, io

    target = data.check_class(args.target_class)
    models = experiments.check_models(args.models.split(","))
    jobs = _jobs(args.jobs, len(models))
    if args.samples <= 0:
        raise CLIError(f"--samples must be positive, got {args.samples}")
    if args.seeds <= 0:
        raise CLIError(f"--seeds must be positive, got {args.seeds}")
    out_json = None
    if args.output:
        out_dir = io.check_output_dir(args.output, overwrite=True)  # the file is checked next
        out_dir.mkdir(parents=True, exist_ok=True)
        out_json = io.check_output(out_dir / f"benchmark_class{target}.json", args.overwrite)
    overrides = _parse_overrides(args.set, args.config)
    train = _train(args)
    ref, _ = _reference(args, train)
    result = experiments.run_benchmark(
        train, ref.classes, models, target, args.samples,
        list(range(args.seed, args.seed + args.seeds)), protocol=args.protocol,
        overrides={m: overrides for m in models if m not in ("random", "marginal")}
        if overrides else None,
        device=args.device, progress=not args.quiet, log=None if args.quiet else _log,
        jobs=jobs,
    )
    result["oracle"] = {"sigma": ref.sigma, "lambda": ref.lam, "holdout_mae": ref.holdout_mae}
    if out_json:
        io.atomic_write_text(out_json, json.dumps(result, indent=2, default=_json_default))
    if args.json:
        slim = {k: v for k, v in result.items()}
        slim["models"] = {
            n: {k: v for k, v in m.items() if k != "per_seed"} for n, m in result["models"].items()
        }
        _emit_json(slim)
    else:
        print(experiments.format_table(result))
    return 0


def _jobs(jobs: int | None, n_models: int) -> int:
    """Models fitted at once: ``--jobs``, else one per available core."""
    from elpagen import threads

    if jobs is None:
        return max(1, min(n_models, threads.available_cores()))
    if jobs < 1:
        raise CLIError(f"--jobs must be 1 or more, got {jobs}")
    return jobs


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: the class-1 benchmark of all five generators (fast protocol)."""
    args.models = "vae,gan,rl,marginal,random"
    return cmd_benchmark(args)


# -- parser -------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH",
                   help="DFT CSV file (default: $ELPAGEN_DATA)")
    p.add_argument("--no-verify", action="store_true",
                   help="accept a DFT file other than the published one (no checksum check)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where reference energies are cached (default: user cache dir, "
                        "or $ELPAGEN_CACHE)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("--threads", type=int, metavar="N", default=None,
                   help="CPU threads per process (default 1, or $ELPAGEN_THREADS; 0 = all "
                        "cores): one thread holds up best on a shared machine")


def _train_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", choices=("fast", "paper"), default="fast",
                   help="training budgets: published (paper) or CPU-friendly (fast)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting of the protocol (repeatable), e.g. --set steps=500")
    p.add_argument("--config", metavar="FILE", help="JSON file of settings to override")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default auto)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elpagen",
        description="Generative models in Elpasolite (ABC2D6) composition space and the "
                    "benchmark to judge them.",
    )
    parser.add_argument("--version", action="version", version=f"elpagen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("data", help="counts of the DFT training data")
    _common(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("oracle", help="build or load the full-space reference energies")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the cache and rebuild")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_oracle)

    p = sub.add_parser("evaluate", help="score a CSV of compositions for a target class")
    _common(p)
    p.add_argument("samples", metavar="SAMPLES.csv", help="CSV with header A,B,C,D")
    p.add_argument("--target-class", "-c", type=int, required=True, help="class 1..10")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("sample", help="draw N valid compositions from a baseline or a model")
    _common(p)
    p.add_argument("model", metavar="random|marginal|MODEL_DIR",
                   help="a baseline name or a directory written by `elpagen train`")
    p.add_argument("--target-class", "-c", type=int, required=True, help="class 1..10")
    p.add_argument("-n", type=int, required=True, help="number of valid samples")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--member", type=int, default=0,
                   help="which seed of a multi-seed model directory (default 0)")
    p.add_argument("--device", default="auto", help="torch device (default auto)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT.csv")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("train", help="train a model (K seeds as one batched ensemble)")
    _common(p)
    p.add_argument("model", choices=("vae", "gan", "rl"))
    p.add_argument("--target-class", "-c", type=int,
                   help="class 1..10 (required for rl, which is trained per class)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds K (default 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    _train_opts(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.set_defaults(func=cmd_train)

    for name, func, helptext in (
        ("benchmark", cmd_benchmark, "train, sample and score models; mean ± std over seeds"),
        ("run", cmd_run, "the main job: class-1 benchmark of all five generators"),
    ):
        p = sub.add_parser(name, help=helptext)
        _common(p)
        if name == "benchmark":
            p.add_argument("--models", default="vae,gan,rl,marginal,random",
                           help="comma-separated: vae,gan,rl,marginal,random")
        p.add_argument("--target-class", "-c", type=int, default=1, help="class 1..10")
        p.add_argument("--samples", "-n", type=int, default=10_000,
                       help="valid samples per fit (default 10,000)")
        p.add_argument("--seeds", type=int, default=3, help="fits per model (default 3)")
        p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
        _train_opts(p)
        p.add_argument("--jobs", "-j", type=int, default=None, metavar="J",
                       help="models fitted at once, each in its own process (default: one "
                            "per core); the numbers do not depend on it")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("-o", "--output", metavar="DIR", help="also write the full result here")
        p.add_argument("--overwrite", action="store_true", help="replace an existing result")
        p.set_defaults(func=func)
    from elpagen import search; search.add_cli(sub)  # noqa: E702, I001 - `elpagen search`
    from elpagen import study; study.add_cli(sub)  # noqa: E702, I001 - `study`, `report`
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    _log(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    # A native crash (segfault in a BLAS, out-of-memory kill inside a C library) must
    # never be silent: print the Python stack of every thread to stderr.
    if not faulthandler.is_enabled():
        faulthandler.enable()
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        # Warnings (a rebuilt cache, a duplicate DFT row) as one line each, like errors.
        warnings.showwarning = _one_line_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the command; user errors become one line (exit 2), bugs keep the traceback (3)."""
    try:
        from elpagen import threads

        threads.configure(getattr(args, "threads", None))
        return args.func(args)
    except KeyboardInterrupt:
        _log("interrupted; nothing half-written was kept")
        return EXIT_INTERRUPTED
    except Exception as e:
        if is_user_error(e) and not os.environ.get("ELPAGEN_DEBUG"):
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            _log(f"error: {msg}")
            return EXIT_USAGE
        if is_user_error(e):  # ELPAGEN_DEBUG=1: the traceback of a user error
            raise
        # Anything else is a bug in elpagen or a library: keep the traceback, say so.
        traceback.print_exc()
        _log(f"elpagen {__version__}: internal error ({type(e).__name__}); this is a bug, "
             "please report it with the traceback above and the command you ran")
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
