#!/usr/bin/env bash
# Prepares everything bench/run.sh needs besides the corpus binary (which run.sh builds itself):
#   .peers/                 a Python virtual environment with the peer tools of bench/peers/requirements.txt
#   .peers/lm-eval-0.4.13/  lm-evaluation-harness 0.4.13's wheel, fetched without its dependencies, and its
#                           lm_eval/decontamination/ folder unpacked (janitor_compare.py imports only that)
#   .peers/inputs/          the benchmark inputs, generated from the bundled samples (tests/data) only:
#     corpus-8mb.jsonl, corpus-0.25mb.jsonl      bench/make_corpus.py: web text and book chapters with seeded
#                                                near-duplicates (the small one is for `bench/run.sh --quick`)
#     corpus-8mb.parquet, corpus-0.25mb.parquet  the same records as Parquet, for the parquet reader
#     warc-mix-x40.warc.gz, warc-mix-x1.warc.gz  the bundled WARC files (gzip members) concatenated 40 times / once
#
# Usage: bench/peers/setup.sh [--data DIR] [--mb N] [--python PYTHON]
#   --data DIR     sample data with webtext/, books/ and warc/ folders laid out like tests/data (default tests/data)
#   --mb N         size of the full benchmark corpus in MB (default 8; datatrove's filters take about 15 CPU
#                  seconds per MB of it, so a larger one mostly lengthens their run)
#   --python PY    the interpreter the environment is made from (default python3; 3.10 or later)
# Rerunning it is safe: what is already in place is kept, and each step says what it did. It needs the package
# registry (PyPI) the first time only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA="$ROOT/tests/data"
MB=8
PYTHON=python3
while [ $# -gt 0 ]; do
    case "$1" in
        --data) DATA=$(cd "$2" && pwd); shift 2 ;;
        --mb) MB=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

PEERS="$ROOT/.peers"
INPUTS="$PEERS/inputs"
LM_EVAL_VERSION=0.4.13
LM_EVAL="$PEERS/lm-eval-$LM_EVAL_VERSION"

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

for folder in webtext books warc; do
    [ -d "$DATA/$folder" ] || fail "$DATA has no $folder/ folder (expected the layout of tests/data)"
done
command -v "$PYTHON" >/dev/null || fail "no '$PYTHON' on PATH (pass --python)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    fail "$("$PYTHON" --version 2>&1) is too old: datatrove 0.10.1 needs Python 3.10 or later (pass --python)"

# 1. The virtual environment and the pinned peer tools.
if [ -x "$PEERS/bin/python" ]; then
    say "virtual environment $PEERS exists ($("$PEERS/bin/python" --version))"
else
    say "creating the virtual environment $PEERS with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$PEERS"
fi
if "$PEERS/bin/python" - "$ROOT/bench/peers/requirements.txt" <<'EOF'
import sys
from importlib import metadata
# Exit 0 only when every pinned requirement is installed at its pinned version.
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    name = name.split("[")[0]
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if version and installed != version:
        sys.exit(1)
EOF
then
    say "peer tools already installed (bench/peers/requirements.txt)"
else
    say "installing bench/peers/requirements.txt into $PEERS (a few minutes the first time)"
    "$PEERS/bin/python" -m pip install --quiet --upgrade pip
    "$PEERS/bin/python" -m pip install --quiet -r "$ROOT/bench/peers/requirements.txt"
fi

# 2. lm-eval's Janitor: only lm_eval/decontamination/ from the wheel, none of lm-eval's dependencies.
if [ -f "$LM_EVAL/lm_eval/decontamination/janitor.py" ]; then
    say "lm-eval $LM_EVAL_VERSION Janitor already unpacked in $LM_EVAL"
else
    mkdir -p "$LM_EVAL"
    if ! ls "$LM_EVAL"/lm_eval-"$LM_EVAL_VERSION"-*.whl >/dev/null 2>&1; then
        say "fetching the lm-eval $LM_EVAL_VERSION wheel (pip download --no-deps) into $LM_EVAL"
        "$PEERS/bin/python" -m pip download --quiet --no-deps "lm-eval==$LM_EVAL_VERSION" -d "$LM_EVAL"
    fi
    say "unpacking lm_eval/decontamination/ from the wheel"
    "$PEERS/bin/python" - "$LM_EVAL" <<'EOF'
import glob, os, sys, zipfile
folder = sys.argv[1]
with zipfile.ZipFile(sorted(glob.glob(os.path.join(folder, "lm_eval-*.whl")))[-1]) as wheel:
    for name in wheel.namelist():
        if name.startswith("lm_eval/decontamination/"):
            wheel.extract(name, folder)
EOF
fi

# 3. Every peer imports.
"$PEERS/bin/python" - "$LM_EVAL" <<'EOF' || fail "a peer tool does not import (see above)"
import contextlib, io, os, sys
from importlib import metadata
import datatrove.pipeline.dedup.minhash, datatrove.pipeline.extractors, datatrove.pipeline.filters
import datatrove.pipeline.readers, numpy, orjson, pyarrow, spacy, tiktoken, trafilatura, warcio, zstandard
try:
    import cchardet, magic
except ImportError as e:
    sys.exit(f"setup: {e}: datatrove's WarcReader needs python-magic, which needs the system's libmagic "
             "(Debian/Ubuntu: apt-get install libmagic1)")
sys.path.insert(0, os.path.join(sys.argv[1], "lm_eval", "decontamination"))
# Its import reports, on both streams, that its C++ helper is absent: that is its Python mode, the one measured.
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import janitor
janitor.Janitor(ngram_n=13)
names = ["datatrove", "spacy", "tiktoken", "trafilatura", "warcio", "numpy", "pyarrow"]
print("setup: peers import: " + ", ".join(f"{n} {metadata.version(n)}" for n in names) + ", lm-eval Janitor (Python mode)")
EOF

# 4. The benchmark inputs.
mkdir -p "$INPUTS"
for size in "$MB" 0.25; do
    corpus="$INPUTS/corpus-${size}mb.jsonl"
    "$PEERS/bin/python" "$ROOT/bench/make_corpus.py" --out "$corpus" --mb "$size" --data "$DATA" | sed 's/^/setup: /'
    parquet="${corpus%.jsonl}.parquet"
    if [ -f "$parquet" ] && [ "$parquet" -nt "$corpus" ]; then
        say "$parquet is up to date"
    else
        "$PEERS/bin/python" - "$corpus" "$parquet" <<'EOF'
import os, sys
import pyarrow, pyarrow.json, pyarrow.parquet
schema = pyarrow.schema([("id", pyarrow.string()), ("source", pyarrow.string()), ("text", pyarrow.string())])
options = pyarrow.json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
table = pyarrow.json.read_json(sys.argv[1], parse_options=options)
pyarrow.parquet.write_table(table, sys.argv[2] + ".partial", compression="zstd")
os.replace(sys.argv[2] + ".partial", sys.argv[2])
print(f"setup: wrote {sys.argv[2]}: {table.num_rows} rows, {os.path.getsize(sys.argv[2]) / 1e6:.1f} MB (zstd)")
EOF
    fi
done

mapfile -t warcs < <(find "$DATA/warc" -maxdepth 1 -name '*.warc.gz' ! -name '*.wet.gz' ! -name '*.wat.gz' | sort)
[ ${#warcs[@]} -gt 0 ] || fail "no .warc.gz file in $DATA/warc"
for copies in 40 1; do
    mix="$INPUTS/warc-mix-x$copies.warc.gz"
    stamp="$mix.sources"
    # gzip members concatenate, so the copies are one valid WARC file.
    if [ -f "$mix" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${warcs[*]}" ]; then
        say "$mix is up to date"
        continue
    fi
    : > "$mix.partial"
    for _ in $(seq "$copies"); do cat "${warcs[@]}" >> "$mix.partial"; done
    mv "$mix.partial" "$mix"
    printf '%s' "${warcs[*]}" > "$stamp"
    say "wrote $mix: ${#warcs[@]} WARC files x $copies, $(( $(stat -c %s "$mix") / 1000000 )) MB"
done

say "done. Next: bench/run.sh (or bench/run.sh --quick for a smoke test)"
