#!/usr/bin/env bash
# CI: the package as someone gets it from a clone. `python -m build` makes an sdist and a
# wheel (the wheel built from the sdist, so the sdist must hold everything); both must
# carry every tracked file of src/elpagen. Then, in a fresh venv, install exactly as the
# README says: torch==2.13.0 first (the CPU build; an open range would pull a multi-GB
# CUDA build), then the wheel with its dependencies, run `elpagen --version` and
# `elpagen data --json`; then the sdist with the `materials` extra in its place, and
# run them again. Dependencies at the versions of constraints.txt, as `make setup`.
# Needs `make setup` first (`build` is in the dev extra). Usage: bash .ci/build_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PY=${PY:-python3}
export ELPAGEN_DATA="${ELPAGEN_DATA:-$(cd .. && pwd)/shared/data/elpasolite_dft_faber2016.csv}"
work=$(mktemp -d)
trap 'lap=$SECONDS; rm -rf "$work"; echo "build-check: cleaned up ($((SECONDS - lap)) s)"' EXIT
# Never the user's fetched data, cache or a download: only $ELPAGEN_DATA is read.
export ELPAGEN_DATA_DIR="$work/data" ELPAGEN_CACHE="$work/cache"
export ELPAGEN_DATA_URL="http://127.0.0.1:9/train_set.pkl"
start=$SECONDS
lap=$SECONDS
step() { echo "build-check: $1 ($((SECONDS - lap)) s)"; lap=$SECONDS; }

.venv/bin/python -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
sdist=$(echo "$work"/dist/elpagen-*.tar.gz)
wheel=$(echo "$work"/dist/elpagen-*-py3-none-any.whl)
step "built $(basename "$sdist") and $(basename "$wheel")"

# What each must hold: every tracked file of the package (package data included), and
# the sdist also pyproject.toml, README.md and any tracked LICENSE/COPYING file.
git ls-files src/elpagen LICENSE* COPYING* > "$work/tracked.txt"
.venv/bin/python - "$sdist" "$wheel" "$work/tracked.txt" <<'EOF'
import sys
import tarfile
import zipfile
from pathlib import Path

sdist, wheel, tracked = sys.argv[1:]
files = Path(tracked).read_text().split()
# A tracked link to a folder (src/elpagen/board -> docs/leaderboard: the board's entries as
# package data) must arrive as the files it holds.
files = [str(g) for f in files
         for g in (sorted(x for x in Path(f).rglob("*") if x.is_file())
                   if Path(f).is_dir() else [f])]
if not any(f.startswith("src/elpagen/board/") and f.endswith(".json") for f in files):
    sys.exit("build-check: src/elpagen/board holds no leaderboard entry")
with tarfile.open(sdist) as t:
    top = t.getnames()[0].split("/")[0]
    in_sdist = {n.removeprefix(top + "/") for n in t.getnames()}
in_wheel = set(zipfile.ZipFile(wheel).namelist())
problems = [f"sdist lacks {f}" for f in ["pyproject.toml", "README.md", *files]
            if f not in in_sdist]
problems += [f"wheel lacks {f.removeprefix('src/')}" for f in files
             if f.startswith("src/") and f.removeprefix("src/") not in in_wheel]
if problems:
    sys.exit("build-check: " + "; ".join(problems) + " (package data: "
             "[tool.setuptools.package-data] in pyproject.toml)")
print(f"build-check: sdist and wheel hold all {len(files)} tracked package files")
EOF

# A --no-deps install (numpy, torch absent): --version still answers (elpagen.__main__).
"$PY" -m venv "$work/nodeps"
"$work/nodeps/bin/pip" install --quiet --no-compile --no-deps "$wheel"
version=$(.venv/bin/python -c \
    'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
(cd "$work" && test "$("$work/nodeps/bin/elpagen" --version)" = "elpagen $version")
rm -rf "$work/nodeps"
step "elpagen --version of a --no-deps install"

"$PY" -m venv "$work/venv"
# --no-compile: no .pyc of every module up front (half the files: faster to install and,
# on a disk that discards on delete, minutes faster to remove).
pip=("$work/venv/bin/pip" install --quiet --no-compile -c "$root/constraints.txt")
"${pip[@]}" torch==2.13.0
step "fresh venv with torch==2.13.0"
"${pip[@]}" "$wheel"
step "installed the wheel and its dependencies"

smoke() {  # outside the checkout: only the installed package can be imported
    (cd "$work" && test "$("$work/venv/bin/elpagen" --version)" = "elpagen $version" \
        && "$work/venv/bin/elpagen" data --json > "$work/data.json")
    "$work/venv/bin/python" - "$work/data.json" <<'EOF'
import json
import sys

d = json.load(open(sys.argv[1]))
assert d["raw"] == 10590, d["raw"]
print(f"build-check: elpagen data --json: {d['raw']:,} rows, sha256 {d['sha256'][:12]}")
EOF
}
smoke
step "elpagen --version, elpagen data --json (wheel)"

"$work/venv/bin/pip" uninstall --quiet -y elpagen
"${pip[@]}" "elpagen[materials] @ file://$sdist"
step "installed the sdist with the materials extra"
smoke
(cd "$work" && "$work/venv/bin/python" -c '
from elpagen import materials
from elpagen.spaces import ELPASOLITE, PEROVSKITE
for sp, row in ((ELPASOLITE, ["K", "Na", "Al", "F"]), (PEROVSKITE, ["Sr", "Ti"])):
    code = int(sp.encode(sp.symbols_to_indices([row]))[0])
    s = materials.structure(code, space=sp)
    print(f"build-check: materials extra: {sp.name} {s.composition.reduced_formula}, {len(s)} sites")')
step "elpagen --version, elpagen data --json, a structure (sdist)"

# torch==2.13.0 must have been the CPU build: no CUDA runtime wheels came with it.
cuda=$("$work/venv/bin/pip" list --format=freeze 2>/dev/null | grep -i '^nvidia-' || true)
if [ -n "$cuda" ]; then
    echo "build-check: the fresh venv pulled CUDA wheels (torch==2.13.0 did not resolve to"
    echo "the CPU build; README, Quick start: the CPU index):" $cuda
    exit 1
fi
echo "build-check: passed in $((SECONDS - start)) s"
