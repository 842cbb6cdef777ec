"""Cost and fingerprint of one torch model's sampler (issue 19 item 3): CPU and wall seconds
of ``sample(N)``, a sha256 of the codes drawn (to check a speed change bitwise), a cProfile,
and for ``ar`` the crossover between its site-by-site sampler and its exact table.

A fast-protocol fit (seed 0) is trained once and kept under ``--model-dir`` (reloaded on the
next run, so before/after runs sample from the very same weights)::

    python benchmarks/bench_model_sampling.py --model gan -n 2000000 --hash
    python benchmarks/bench_model_sampling.py --model vae -n 1000000 --profile
    python benchmarks/bench_model_sampling.py --model ar --crossover -n 200000
    python benchmarks/bench_model_sampling.py --model ar -n 25000000     # the table path

``--impl FILE`` takes the model class from a copy of its module (e.g. ``git show
HEAD~1:src/elpagen/models/gan.py > old_gan.py``) with the same saved weights. One torch
thread unless ``--threads``.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import resource
import time
from pathlib import Path

import numpy as np
import torch
from profile_gan import impl_class  # --impl: an older copy of a model's module

from elpagen import data
from elpagen.models.ar import ARModel
from elpagen.models.gan import ConditionalWGAN
from elpagen.models.persistence import load_directory
from elpagen.models.vae import ConditionalVAE

CLASSES = {"ar": ARModel, "gan": ConditionalWGAN, "vae": ConditionalVAE}


def timed(fn, *args, **kwargs):
    """fn(*args, **kwargs), its wall seconds and its CPU seconds (this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def fitted(name: str, model_dir: Path, impl: str | None):
    """The saved fast fit of seed 0 (trained and saved on first use), as ``impl``'s class."""
    cls = impl_class(impl, CLASSES[name])
    d = model_dir / name
    if not d.is_dir():
        t = time.perf_counter()
        CLASSES[name](0, device="cpu").fit(data.load_training_set()).save(d)
        print(f"fitted {name} (fast, seed 0) in {time.perf_counter() - t:.0f} s -> {d}")
    return load_directory(d, {name: cls}, device="cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(CLASSES), required=True)
    ap.add_argument("-n", type=int, default=1_000_000, help="valid samples")
    ap.add_argument("--target-class", type=int, default=5)
    ap.add_argument("--knob", type=float, default=None, help="sampling knob (default: 1)")
    ap.add_argument("--seed", type=int, default=1, help="sampling seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model-dir", type=Path, default=Path("/tmp/elpagen_bench_models"))
    ap.add_argument("--impl", default=None, help="a module file to take the class from")
    ap.add_argument("--hash", action="store_true", help="sha256 of the codes and n_drawn")
    ap.add_argument("--profile", action="store_true", help="cProfile of sample()")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--crossover", action="store_true",
                    help="ar: time N site-by-site draws and the table build; the N at which "
                         "building the table pays")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = fitted(a.model, a.model_dir, a.impl)
    if a.knob is not None:
        g = g.with_knob(a.knob)
    c = a.target_class
    if a.crossover:
        rng = np.random.default_rng(a.seed)
        _, w, cpu = timed(g.propose, a.n, c, rng, tabulated=False)
        print(f"ar site by site: {a.n:,} draws {w:.1f} s wall, {cpu:.1f} s CPU = "
              f"{a.n / cpu / 1e3:.1f} k per CPU s")
        _, wb, cb = timed(g.composition_table, c)
        print(f"ar table build: {wb:.1f} s wall, {cb:.1f} s CPU; crossover at "
              f"{cb * a.n / cpu / 1e6:.2f} M draws (CPU)")
        return
    # CPU time, not wall: on a shared machine the wall clock counts the other jobs too.
    prof = cProfile.Profile(time.process_time) if a.profile else None
    if prof:
        prof.enable()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    s, w, cpu = timed(g.sample, a.n, c, seed=a.seed)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    if prof:
        prof.disable()
    print(f"{a.model} class {c} knob {g.knob_value}: {a.n:,} valid ({s.n_drawn:,} drawn) "
          f"{w:.1f} s wall, {cpu:.1f} s CPU = {a.n / cpu / 1e6:.3f} M valid per CPU s, "
          f"{cpu / s.n_drawn * 1e6:.3f} CPU us per proposal; {faults:,} minor page faults",
          flush=True)
    if a.hash:
        h = hashlib.sha256(np.ascontiguousarray(s.codes, dtype=np.int32).tobytes())
        h.update(str(s.n_drawn).encode())
        print("sha256", h.hexdigest())
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(a.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
