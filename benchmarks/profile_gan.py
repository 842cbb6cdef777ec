"""Profile and fingerprint a GAN fit (issue 19): where a fast-protocol fit spends its time,
and a sha256 of the trained weights so that a speed change can be checked bitwise.

    python benchmarks/profile_gan.py --steps 200 --hash        # prints the weights' sha256
    python benchmarks/profile_gan.py --steps 300 --profile     # cProfile, top functions
    python benchmarks/profile_gan.py --steps 300               # just the fit (for timing)
    python benchmarks/profile_gan.py --steps 200 --hash --impl old_gan.py   # another version

``--impl`` loads ``ConditionalWGAN`` from a copy of gan.py (e.g. ``git show
HEAD~1:src/elpagen/models/gan.py > old_gan.py``) to time or fingerprint the code before a
change on the same machine. ``--protocol paper --steps N`` times N updates of the paper
protocol (extrapolate to its 200,000).

One torch thread unless --threads; seeds 0, 1, 2 as one batched ensemble (as ``make run``).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib.util
import io
import json
import pstats
import sys
import time

import torch

from elpagen import data
from elpagen.models.gan import ConditionalWGAN


def fingerprint(model: ConditionalWGAN) -> str:
    """sha256 over every tensor of the state dict (name, dtype, shape, bytes) and the
    training history (the curves must not change either)."""
    h = hashlib.sha256()
    for name, t in sorted(model.nets.state_dict().items()):
        a = t.detach().cpu().contiguous().numpy()
        h.update(f"{name}|{a.dtype}|{a.shape}".encode())
        h.update(a.tobytes())
    h.update(json.dumps(model.history, sort_keys=True).encode())
    return h.hexdigest()


def impl_class(path: str | None, cls: type) -> type:
    """``cls``, or the class of that name from the module file ``path`` (``--impl``: an
    older copy of the model's module, for before/after pairs)."""
    if not path:
        return cls
    spec = importlib.util.spec_from_file_location(
        f"{cls.__module__.rsplit('.', 1)[-1]}_impl", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return getattr(mod, cls.__name__)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="generator updates (default: protocol)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--protocol", default="fast", choices=("fast", "paper"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hash", action="store_true", help="print the sha256 of the weights")
    ap.add_argument("--profile", action="store_true", help="cProfile the fit")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--impl", default=None, help="a gan.py to load ConditionalWGAN from")
    a = ap.parse_args()
    cls = impl_class(a.impl, ConditionalWGAN)
    torch.set_num_threads(a.threads)
    train = data.load_training_set()
    seeds = [int(s) for s in a.seeds.split(",")]
    over = {} if a.steps is None else {"steps": a.steps}
    model = cls(seeds, protocol=a.protocol, device="cpu", **over)
    prof = cProfile.Profile() if a.profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    model.fit(train, None)
    if prof:
        prof.disable()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    steps = model.config.steps
    print(f"gan x{len(seeds)} {a.protocol} steps={steps} batch={model.config.batch_size}: "
          f"{dt:.2f} s wall, {steps / dt:.2f} generator updates/s; {cpu:.2f} s CPU, "
          f"{steps / cpu:.2f} updates per CPU second", flush=True)
    if a.hash:
        print("sha256", fingerprint(model), flush=True)
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(a.top)
        print(s.getvalue())


if __name__ == "__main__":
    main()
