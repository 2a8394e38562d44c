#!/usr/bin/env bash
# Reruns the measurements of BENCHMARKS.md and prints them as its Markdown tables.
#
# Usage: bench/run.sh [--quick] [--mb N] [--no-build] [--out DIR] [SECTION ...]
#   SECTION       any of: cost tokenizer filters minhash decontam readers classifier train memory dedup-scale
#                 (the default: all of them, in that order), and, only when named, build (a cold release build
#                 in an empty target directory, 30-90 minutes on 2 cores), tests (`cargo test --workspace`
#                 after a warm-up build), scurve (the LSH S-curve test with 40,000 pairs, release) and fuzz
#                 (the readers' arbitrary-bytes test with 12,000 mutations per sample variant)
#   --quick       a smoke test: small inputs and few repeats; its figures are not for BENCHMARKS.md
#   --mb N        use the N MB benchmark corpus (default 8; --quick: 0.25); `bench/peers/setup.sh --mb N` makes it
#   --no-build    measure the binary as it is instead of running `cargo build --release --bin corpus` first
#   --out DIR     where to keep every command's output (default out/bench/<UTC time>)
# Environment: CORPUS_BIN, a corpus binary to measure instead of building one (default: the build's
# $CARGO_TARGET_DIR/release/corpus, or target/release/corpus); BENCH_TMP, a scratch folder for the large generated inputs (default /tmp).
#
# Needs the peers' environment and inputs: bench/peers/setup.sh. Every comparison runs the peer and corpus in the
# same invocation, on the same input; ratios of one run are comparable even on a busy machine, absolute figures
# only at the same load, so every section prints the load average before and after it. The tables go to
# stdout and to DIR/tables.md; each command's line, output, wall time and load averages to DIR/raw/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DEFAULT_SECTIONS=(cost tokenizer filters minhash decontam readers classifier train memory dedup-scale)
NAMED_ONLY=(build tests scurve fuzz)
QUICK=0
MB=
BUILD=1
OUT=
SECTIONS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --mb) MB=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *)
            if [[ " ${DEFAULT_SECTIONS[*]} ${NAMED_ONLY[*]} " != *" $1 "* ]]; then
                echo "run.sh: unknown section '$1'; sections: ${DEFAULT_SECTIONS[*]} ${NAMED_ONLY[*]}" >&2
                exit 2
            fi
            SECTIONS+=("$1"); shift ;;
    esac
done
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=("${DEFAULT_SECTIONS[@]}")
[ -n "$MB" ] || MB=$([ $QUICK = 1 ] && echo 0.25 || echo 8)
OUT=${OUT:-out/bench/$(date -u +%Y%m%dT%H%M%SZ)}
RAW="$OUT/raw"
SCRATCH=$(mktemp -d "${BENCH_TMP:-/tmp}/corpus-bench.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$RAW"

say() { printf 'bench: %s\n' "$*" >&2; }
fail() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
needs_peers() {
    [ -x .peers/bin/python ] || fail "no .peers/ environment: run bench/peers/setup.sh first"
}

# run NAME CMD...: runs CMD from the repository root and keeps, under $RAW, its command line (NAME.cmd), stdout
# (NAME.out), stderr (NAME.err), wall seconds (NAME.wall) and the load averages before and after (NAME.load).
# A failing command stops the whole run with the end of its stderr.
run() {
    local name=$1
    shift
    local arg line=
    # The command as one would type it: arguments with spaces or glob characters in single quotes.
    for arg in "$@"; do
        if [[ "$arg" =~ [^A-Za-z0-9_./:=,+@%-] ]]; then line+="'$arg' "; else line+="$arg "; fi
    done
    echo "${line% }" > "$RAW/$name.cmd"
    say "$name: ${line% }"
    local before started
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    started=$(date +%s.%N)
    if ! "$@" > "$RAW/$name.out" 2> "$RAW/$name.err"; then
        tail -n 30 "$RAW/$name.err" >&2
        fail "$name failed: $* (output in $RAW/$name.out and .err)"
    fi
    awk -v start="$started" -v end="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", end - start }' > "$RAW/$name.wall"
    echo "$before -> $(cut -d' ' -f1-3 /proc/loadavg)" > "$RAW/$name.load"
}

# table SECTION: prints the section's Markdown (from $RAW) to stdout and appends it to $OUT/tables.md.
table() {
    python3 bench/tables.py "$1" "$OUT" | tee -a "$OUT/tables.md"
}

# The binary.
if [ $BUILD = 1 ] && [ -z "${CORPUS_BIN:-}" ]; then
    say "cargo build --release --bin corpus (from a cold target directory: 30-90 minutes on 2 cores)"
    cargo build --release --bin corpus >&2 || fail "the release build failed"
fi
CORPUS=${CORPUS_BIN:-${CARGO_TARGET_DIR:-target}/release/corpus}
[ -x "$CORPUS" ] || fail "no corpus binary at $CORPUS (build it, or set CORPUS_BIN)"
# The peer scripts run `corpus` from PATH: a link of that name to the measured binary, whatever its file name.
mkdir -p "$SCRATCH/bin"
ln -s "$(cd "$(dirname "$CORPUS")" && pwd)/$(basename "$CORPUS")" "$SCRATCH/bin/corpus"
export PATH="$SCRATCH/bin:$PATH"

# The inputs.
INPUTS=.peers/inputs
CORPUS_JSONL="$INPUTS/corpus-${MB}mb.jsonl"
if [ $QUICK = 1 ]; then WARC_MIX="$INPUTS/warc-mix-x1.warc.gz"; else WARC_MIX="$INPUTS/warc-mix-x40.warc.gz"; fi
# The work directory of the quickstart builds (cost), whose shards the trainer reads (train).
QUICKSTART="$SCRATCH/quickstart"
# Decontamination registers what GPT-3 checked its largest overlaps against: LAMBADA test (5,153 book passages)
# and PIQA validation, 296k n-grams.
BENCHMARKS=(tests/data/benchmarks/lambada-openai-test.jsonl tests/data/benchmarks/piqa-valid.jsonl)
BENCHMARK_FIELDS=("text" "goal,sol1,sol2")
for section in "${SECTIONS[@]}"; do
    case "$section" in
        tokenizer|filters|minhash|decontam|readers)
            needs_peers
            if [ ! -f "$CORPUS_JSONL" ] || [ ! -f "$WARC_MIX" ]; then
                fail "no $CORPUS_JSONL or $WARC_MIX: run bench/peers/setup.sh$([ "$MB" = 8 ] || [ "$MB" = 0.25 ] || echo " --mb $MB")"
            fi
            break ;;
    esac
done

# Machine facts, for the header of the tables.
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
    echo "cores=$(nproc)"
    echo "memory_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
    echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rustc=$(rustc --version 2>/dev/null || echo unknown)"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -c . || true)"
    echo "binary=$CORPUS"
    echo "version=$("$CORPUS" --version 2>/dev/null || echo unknown)"
    echo "quick=$QUICK"
    echo "sections=${SECTIONS[*]}"
} > "$OUT/machine.txt"
python3 bench/tables.py machine "$OUT" | tee "$OUT/tables.md"

section_cost() {
    run binary-size stat -c %s "$CORPUS"
    # The release profile drops debug info but keeps the symbol table (names in backtraces); `strip` drops both.
    cp "$CORPUS" "$SCRATCH/corpus-stripped"
    strip "$SCRATCH/corpus-stripped"
    run binary-size-stripped stat -c %s "$SCRATCH/corpus-stripped"
    rm -f "$SCRATCH/corpus-stripped"
    local rounds=3
    [ $QUICK = 1 ] && rounds=1
    # A build skips the tasks its work directory has finished: each round starts from an empty one.
    for i in $(seq "$rounds"); do
        rm -rf "$QUICKSTART"
        run "quickstart-$i" "$CORPUS" build --config configs/quickstart.toml --work "$QUICKSTART"
    done
    run quickstart-status "$CORPUS" status --work "$QUICKSTART" --json
    run quickstart-shards "$CORPUS" inspect shards --work "$QUICKSTART" --json
    table cost
}

section_tokenizer() {
    local seconds=10 repeat=5 rounds=3 other_seconds=5 other_repeat=2
    [ $QUICK = 1 ] && seconds=1 repeat=1 rounds=1 other_seconds=1 other_repeat=1
    for threads in 1 2; do
        run "tokenizer-r50k-t$threads" .peers/bin/python bench/peers/tiktoken_compare.py "$CORPUS_JSONL" \
            --threads "$threads" --seconds "$seconds" --repeat "$repeat" --rounds "$rounds"
    done
    for encoding in cl100k_base o200k_base; do
        run "tokenizer-$encoding-t1" .peers/bin/python bench/peers/tiktoken_compare.py "$CORPUS_JSONL" \
            --encoding "$encoding" --threads 1 --seconds "$other_seconds" --repeat "$other_repeat"
    done
    run tokenizer-check "$CORPUS" bench tokenize --input "$CORPUS_JSONL" --threads 2 --check
    run tokenizer-tiktoken-rs "$CORPUS" bench tokenize --input "$CORPUS_JSONL" --threads 1 --repeat "$repeat" \
        --engine tiktoken-rs
    table tokenizer
}

section_filters() {
    local seconds=5 repeat=10
    [ $QUICK = 1 ] && seconds=0.5 repeat=1
    # Our side runs the rule settings the datatrove side uses (filters_compare.py's, C4 with datatrove's
    # defaults), written as a pipeline config by the same code.
    local config="$SCRATCH/filters.toml"
    .peers/bin/python -c 'import sys; sys.path.insert(0, "bench/peers"); import filters_compare as f
print(f.pipeline_config(sys.argv[1], sys.argv[2], f.rules_config(False)), end="")' \
        "$ROOT/$CORPUS_JSONL" "$SCRATCH/filters-work" > "$config"
    cp "$config" "$RAW/filters.toml"
    local ours=("$CORPUS" bench filters --input "$CORPUS_JSONL" --config "$config" --source compare
        --repeat "$repeat")
    run filters-ours-t1-a "${ours[@]}" --threads 1
    run filters-peer .peers/bin/python bench/peers/filters_compare.py "$CORPUS_JSONL" --bench \
        --bench-seconds "$seconds"
    run filters-ours-t1-b "${ours[@]}" --threads 1
    run filters-ours-t2 "${ours[@]}" --threads 2
    table filters
}

section_minhash() {
    local seconds=20 repeat=10
    [ $QUICK = 1 ] && seconds=0.5 repeat=1
    run minhash-peer .peers/bin/python bench/peers/minhash_compare.py "$CORPUS_JSONL" --repeat "$repeat" \
        --seconds "$seconds" --full-step
    run minhash-ours-t1 "$CORPUS" bench minhash --input "$CORPUS_JSONL" --repeat "$repeat" --threads 1
    run minhash-ours-t2 "$CORPUS" bench minhash --input "$CORPUS_JSONL" --repeat "$repeat" --threads 2
    run minhash-ours-gpt3 "$CORPUS" bench minhash --input "$CORPUS_JSONL" --repeat "$repeat" --threads 1 \
        --mode gpt3
    table minhash
}

section_decontam() {
    local repeat=20 plant=40
    [ $QUICK = 1 ] && repeat=1 plant=5
    local specs=()
    for i in "${!BENCHMARKS[@]}"; do specs+=(--benchmark "${BENCHMARKS[$i]}:${BENCHMARK_FIELDS[$i]}"); done
    run decontam-peer .peers/bin/python bench/peers/janitor_compare.py "$CORPUS_JSONL" --repeat "$repeat" \
        --plant "$plant" "${specs[@]}"
    local ours=("$CORPUS" bench decontam --input "$CORPUS_JSONL" --benchmarks "${BENCHMARKS[@]}"
        --fields "${BENCHMARK_FIELDS[@]}" --ngram 13 --repeat "$repeat")
    run decontam-ours-janitor-t2 "${ours[@]}" --mode janitor --threads 2
    run decontam-ours-gpt3-t1 "${ours[@]}" --mode gpt3 --threads 1
    table decontam
}

section_readers() {
    local quick=$QUICK
    # name format input repeat(full) repeat(quick)
    local readers=(
        "jsonl jsonl $CORPUS_JSONL 4 1"
        "jsonl-gz jsonl tests/data/webtext/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz 5 1"
        "parquet parquet ${CORPUS_JSONL%.jsonl}.parquet 4 1"
        "text text tests/data/books/pg1342-pride-and-prejudice.txt 20 2"
        "wikipedia wikipedia-xml tests/data/wiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2 3 1"
        "wet wet tests/data/warc/whirlwind.warc.wet.gz 300 10"
        "warc warc $WARC_MIX 1 1"
    )
    local line name format input full short
    for line in "${readers[@]}"; do
        read -r name format input full short <<< "$line"
        [ -f "$input" ] || fail "no $input: run bench/peers/setup.sh"
        run "read-$name" "$CORPUS" bench read --format "$format" --input "$input" \
            --repeat "$([ "$quick" = 1 ] && echo "$short" || echo "$full")"
    done
    run read-warc-peer .peers/bin/python bench/peers/warc_datatrove.py "$WARC_MIX"
    run read-warc-again "$CORPUS" bench read --format warc --input "$WARC_MIX"
    table readers
}

section_classifier() {
    run classifier-train "$CORPUS" quality train \
        --positive 'tests/data/webtext/*.jsonl.zst' 'tests/data/webtext/dolma-*.jsonl.gz' 'tests/data/books/*.txt' \
        'tests/data/wiki/enwiki-*.bz2' --negative 'tests/data/warc/*.warc.gz' 'tests/data/warc/*.wet.gz' \
        --out "$SCRATCH/quality-model.json"
    table classifier
}

section_train() {
    [ -d "$QUICKSTART/shards" ] || run train-quickstart "$CORPUS" build --config configs/quickstart.toml --work "$QUICKSTART"
    local tiny=5 gpt2=3
    [ $QUICK = 1 ] && tiny=2 gpt2=1
    # Checkpoints (written after the last step, not timed) go to the scratch folder: gpt2-124m's is 1.5 GB.
    run train-tiny "$CORPUS" train --data "$QUICKSTART/shards" --model tiny --batch 8 --seq 64 --steps "$tiny" \
        --log-format json --checkpoint-dir "$SCRATCH/checkpoints"
    run train-gpt2-124m "$CORPUS" train --data "$QUICKSTART/shards" --model gpt2-124m --batch 1 --seq 64 \
        --steps "$gpt2" --log-format json --checkpoint-dir "$SCRATCH/checkpoints"
    table train
}

section_memory() {
    local jsonl_copies=320 warc_copies=18
    [ $QUICK = 1 ] && jsonl_copies=4 warc_copies=2
    local dir="$SCRATCH/memory"
    mkdir -p "$dir"
    zcat tests/data/webtext/dolma-*.jsonl.gz > "$dir/one.jsonl"
    for _ in $(seq "$jsonl_copies"); do cat "$dir/one.jsonl"; done > "$dir/big.jsonl"
    local warc_source=.peers/inputs/warc-mix-x40.warc.gz
    [ $QUICK = 1 ] && warc_source=.peers/inputs/warc-mix-x1.warc.gz
    [ -f "$warc_source" ] || fail "no $warc_source: run bench/peers/setup.sh"
    for _ in $(seq "$warc_copies"); do cat "$warc_source"; done > "$dir/big.warc.gz"
    local format input
    for format in jsonl warc; do
        input="$dir/big.jsonl"
        [ "$format" = warc ] && input="$dir/big.warc.gz"
        printf '[run]\nwork = "%s"\ntasks = 1\n\n[[sources]]\nname = "big"\nformat = "%s"\npaths = ["%s"]\nweight = 1.0\n' \
            "$dir/work-$format" "$format" "$input" > "$dir/$format.toml"
        cp "$dir/$format.toml" "$RAW/memory-$format.toml"
        stat -c %s "$input" > "$RAW/memory-$format.bytes"
        run "memory-$format" /usr/bin/time -f 'wall %e s, max RSS %M KiB' \
            "$CORPUS" stage ingest --config "$dir/$format.toml" --task 0 --tasks 1
    done
    echo "$jsonl_copies $warc_copies $warc_source" > "$RAW/memory.copies"
    rm -rf "$dir"
    table memory
}

section_dedup_scale() {
    local gb=2 tasks=8
    [ $QUICK = 1 ] && gb=0.02 tasks=2
    # The peers' Python has pyarrow, with which the script adds the dedup report's totals.
    local python=python3
    [ -x .peers/bin/python ] && python=.peers/bin/python
    run dedup-scale "$python" bench/dedup_scale.py --out "$SCRATCH/dedup-scale" --gb "$gb" --tasks "$tasks" \
        --memory-mb 256
    rm -rf "$SCRATCH/dedup-scale"
    run dedup-scale-verify "$python" bench/dedup_scale.py --out "$SCRATCH/dedup-scale" --gb "$gb" --tasks "$tasks" \
        --memory-mb 256 --verify
    rm -rf "$SCRATCH/dedup-scale"
    table dedup-scale
}

section_build() {
    run build-cold env CARGO_TARGET_DIR="$SCRATCH/cold-target" /usr/bin/time -f 'wall %e s, user %U s, sys %S s' \
        cargo build --release --bin corpus
    rm -rf "$SCRATCH/cold-target"
    table build
}

section_tests() {
    # The end-to-end tests cross-check outputs with Python (pyarrow, numpy, tiktoken, xxhash): the peers'
    # environment has all four.
    local path=$PATH
    [ -x .peers/bin/python ] && path="$ROOT/.peers/bin:$PATH"
    run tests-build env PATH="$path" cargo test --workspace --no-run
    run tests env PATH="$path" cargo test --workspace
    table tests
}

section_scurve() {
    local pairs=40000
    [ $QUICK = 1 ] && pairs=2000
    run scurve env CORPUS_SCURVE_PAIRS="$pairs" cargo test --quiet --release -p corpus-dedup --test s_curve -- \
        --nocapture
    table scurve
}

section_fuzz() {
    local iterations=12000
    [ $QUICK = 1 ] && iterations=40
    cargo test --quiet -p corpus-readers --lib --no-run >&2
    run fuzz env CORPUS_FUZZ_ITERATIONS="$iterations" cargo test --quiet -p corpus-readers --lib \
        readers_survive -- --nocapture
    table fuzz
}

for section in "${SECTIONS[@]}"; do
    say "section $section (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    "section_${section//-/_}"
done
say "done: tables in $OUT/tables.md, every command's output in $RAW/"
