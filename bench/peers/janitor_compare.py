"""Time our decontamination against the lm-evaluation-harness Janitor (Python mode) in the same run, and compare
their cleaned outputs document by document.

Peer: lm-eval 0.4.13's `lm_eval/decontamination/janitor.py` (GPT-3 App. C as EleutherAI implemented it for the
Pile). Its C++ helper (janitor_util) is not shipped in the wheel, so it runs in Python mode, the mode people get
from `pip install lm-eval`. The wheel is fetched once with `pip download --no-deps` into .peers/lm-eval-0.4.13/
(or --cache) and only `lm_eval/decontamination/` is unpacked from it; nothing of lm-eval is imported but that
folder, so none of lm-eval's dependencies are needed.

Both sides register the same benchmark examples (default: the bundled LAMBADA test `text` and PIQA validation
goal + sol1 + sol2, each example the fields joined by a space; --benchmark
FILE.jsonl:FIELD,FIELD names others) as 13-grams and clean the same documents: the input JSONL plus
--plant documents this script builds from input documents with benchmark passages inserted, so that matches
happen. The Janitor runs `clean_python(text)` per document on one core; ours runs
`corpus bench decontam --mode janitor --ngram 13` (from PATH, or --ours-cmd), which prints MB/s and writes each
document's pieces for the comparison.

Usage (with the peers' virtual environment, which bench/peers/setup.sh creates; bench/run.sh runs this):
  .peers/bin/python bench/peers/janitor_compare.py FILE.jsonl [--plant 40] [--threads 1] [--repeat 20]
      [--benchmark FILE.jsonl:FIELD,FIELD ...]
"""

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from contextlib import redirect_stdout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LM_EVAL = "lm-eval==0.4.13"
BENCHMARKS = os.path.join(ROOT, "tests", "data", "benchmarks")
DEFAULT_BENCHMARKS = [
    os.path.join(BENCHMARKS, "lambada-openai-test.jsonl") + ":text",
    os.path.join(BENCHMARKS, "piqa-valid.jsonl") + ":goal,sol1,sol2",
]
DEFAULT_OURS_CMD = (
    "corpus bench decontam --input {input} --benchmarks {benchmarks} --fields {fields} --mode janitor "
    "--ngram 13 --threads {threads} --repeat {repeat} --pieces {pieces}"
)

EXPLANATIONS = {
    "janitor_drops_short_clean_docs": (
        "no match, but the document is under 200 characters: the Janitor's _split_chunks keeps the tail after "
        "the last match only when it is longer than minimum_slice_length, and with no match that tail is the "
        "whole document, so it returns [] (the document is dropped); ours keeps a document without a match whole"
    ),
    "janitor_too_dirty_cutoff": (
        "the Janitor drops a document at its 11th matching n-gram (too_dirty_cutoff = 10 counts n-grams: one "
        "copied passage of 23 words already has 11 overlapping 13-grams); ours drops a document only when the "
        "cuts split it into more than 10 pieces (GPT-3 App. C and the issue)"
    ),
    "ours_drops_over_10_pieces": (
        "with the Janitor's n-gram cutoff turned off, ours still drops a document split into more than 10 "
        "pieces (the paper's rule), which the Janitor then keeps"
    ),
    "middle_piece_starts_one_char_early": (
        "same pieces except that every piece after the first removed window starts one character earlier on "
        "the Janitor's side: its window end index is inclusive and a middle piece is text[end:start], while its "
        "final piece is text[end + 1:]; ours starts every piece right after the removed window"
    ),
    "piece_of_exactly_200_chars": (
        "a leading piece of exactly 200 characters: the Janitor keeps a leading or middle piece only when it is "
        "longer than 200 (`start - splice_idx > minimum_slice_length`), ours keeps pieces of at least 200 "
        "characters (App. C: 'we remove pieces less than 200 characters long')"
    ),
    "other": "not explained by the above: see the examples printed",
}


def load_janitor(cache):
    """Imports janitor.py from the lm-eval wheel, fetching and unpacking it into `cache` once."""
    folder = os.path.join(cache, "lm_eval", "decontamination")
    if not os.path.exists(os.path.join(folder, "janitor.py")):
        os.makedirs(cache, exist_ok=True)
        wheels = [f for f in os.listdir(cache) if f.endswith(".whl")]
        if not wheels:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", LM_EVAL, "-d", cache], check=True
            )
            wheels = [f for f in os.listdir(cache) if f.endswith(".whl")]
        with zipfile.ZipFile(os.path.join(cache, wheels[0])) as wheel:
            for name in wheel.namelist():
                if name.startswith("lm_eval/decontamination/"):
                    wheel.extract(name, cache)
    sys.path.insert(0, folder)
    # The import prints its "C++ module could not be loaded ... python mode" warning on stdout: keep stdout
    # for results.
    with redirect_stdout(sys.stderr):
        import janitor
    return janitor


def read_jsonl(path, field):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if isinstance(record.get(field), str):
                    yield record


def examples_of(path, fields):
    return [" ".join(str(r[f]) for f in fields if isinstance(r.get(f), str)) for r in read_jsonl(path, fields[0])]


def plant(docs, examples, count, seed=7):
    """`count` new documents: an input document with 1-3 benchmark passages inserted at word boundaries, and one
    document with 12 separate passages (too dirty on both sides)."""
    rng = random.Random(seed)
    bases = [d for d in docs if len(d) > 2000]
    long_examples = [e for e in examples if len(e.split()) >= 20]
    planted = []
    for i in range(count):
        text = rng.choice(bases)
        for _ in range(rng.randint(1, 3)):
            cut = text.find(" ", rng.randrange(len(text)))
            cut = len(text) if cut < 0 else cut
            text = text[:cut] + " " + rng.choice(long_examples) + " " + text[cut:]
        planted.append({"id": f"planted-{i}", "text": text})
    text = rng.choice(bases)
    for _ in range(12):
        text += "\n\n" + " ".join(["filler"] * 120) + "\n\n" + rng.choice(long_examples)
    planted.append({"id": "planted-too-dirty", "text": text})
    return planted


def run_janitor(janitor_module, benchmarks, texts):
    jan = janitor_module.Janitor(ngram_n=13)
    started = time.perf_counter()
    for path, fields in benchmarks:
        for example in examples_of(path, fields):
            # What Janitor.register_contaminant() calls in Python mode, without its per-call warning print.
            jan.register_contaminant_python(example)
    register_s = time.perf_counter() - started
    started = time.perf_counter()
    pieces = [jan.clean_python(text) for text in texts]
    seconds = time.perf_counter() - started
    return jan, pieces, seconds, register_s


def matching_ngrams(janitor_module, jan, text):
    return sum(
        1
        for ngram, _ in janitor_module.word_ngrams_indices(text, jan.ngram_n)
        if jan.normalize_string(ngram) in jan.dirt_ngrams
    )


def classify(janitor_module, jan, text, theirs, ours):
    """Why the Janitor's pieces `theirs` differ from ours on `text` (the first reason that explains it)."""
    mine = ours["pieces"]
    if not ours["hits"] and theirs == [] and len(text) < 200:
        return "janitor_drops_short_clean_docs"
    if theirs == [] and mine and matching_ngrams(janitor_module, jan, text) > jan.too_dirty_cutoff:
        return "janitor_too_dirty_cutoff"
    if mine == [] and ours["dropped"] and theirs:
        return "ours_drops_over_10_pieces"
    if len(theirs) == len(mine):
        if all(a == b or a[1:] == b for a, b in zip(theirs, mine)):
            return "middle_piece_starts_one_char_early"
    if len(theirs) + 1 == len(mine) and len(mine[0]) == 200:
        rest = mine[1:]
        if all(a == b or a[1:] == b for a, b in zip(theirs, rest)):
            return "piece_of_exactly_200_chars"
    return "other"


def compare(label, janitor_module, jan, records, their_pieces, our_pieces, show):
    """Counts documents with identical pieces and classifies the others; prints `show` examples per kind."""
    same, kinds, shown = 0, {}, {}
    for record, theirs, mine in zip(records, their_pieces, our_pieces):
        if theirs == mine["pieces"]:
            same += 1
            continue
        kind = classify(janitor_module, jan, record["text"], theirs, mine)
        kinds[kind] = kinds.get(kind, 0) + 1
        if shown.get(kind, 0) < show:
            shown[kind] = shown.get(kind, 0) + 1
            example = {
                "differs": record["id"],
                "kind": kind,
                "chars": len(record["text"]),
                "our_hits": mine["hits"],
                "janitor_pieces": [len(p) for p in theirs],
                "our_pieces": [len(p) for p in mine["pieces"]],
            }
            print(json.dumps(example), file=sys.stderr)
    summary = {
        "janitor": label,
        "documents": len(records),
        "identical_pieces": same,
        "differ": len(records) - same,
        "differences": kinds,
    }
    print(json.dumps(summary))
    return kinds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="JSONL documents with a `text` field")
    parser.add_argument("--benchmark", action="append", metavar="FILE.jsonl:FIELD,FIELD",
                        help="a benchmark and the fields that form an example (repeat for more; default: "
                        "the bundled LAMBADA and PIQA)")
    parser.add_argument("--plant", type=int, default=40, help="documents with benchmark passages to add")
    parser.add_argument("--threads", type=int, default=1, help="our worker threads (the Janitor uses one)")
    parser.add_argument("--repeat", type=int, default=20, help="our timed passes (the Janitor runs once)")
    parser.add_argument("--cache", default=os.path.join(ROOT, ".peers", "lm-eval-0.4.13"))
    parser.add_argument("--ours-cmd", default=DEFAULT_OURS_CMD)
    parser.add_argument("--examples", type=int, default=3, help="differing documents to print per kind")
    args = parser.parse_args()

    benchmarks = []
    for spec in args.benchmark or DEFAULT_BENCHMARKS:
        path, _, fields = spec.rpartition(":")
        if not path or not fields or not os.path.exists(path):
            sys.exit(f"--benchmark {spec}: expected an existing FILE.jsonl:FIELD,FIELD")
        benchmarks.append((path, fields.split(",")))

    janitor_module = load_janitor(args.cache)
    # Our reader puts text in Unicode NFC and rejects blank documents (empty_text) before any stage sees them:
    # give the Janitor the same texts.
    docs = [unicodedata.normalize("NFC", r["text"]) for r in read_jsonl(args.input, "text") if r["text"].strip()]
    examples = [e for path, fields in benchmarks for e in examples_of(path, fields)]
    records = [{"id": f"input-{i}", "text": t} for i, t in enumerate(docs)] + plant(docs, examples, args.plant)
    texts = [r["text"] for r in records]
    size = sum(len(t.encode("utf-8")) for t in texts)

    with tempfile.TemporaryDirectory() as workdir:
        input_path = os.path.join(workdir, "input.jsonl")
        pieces_path = os.path.join(workdir, "pieces.jsonl")
        with open(input_path, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        cmd = args.ours_cmd.format(
            input=shlex.quote(input_path),
            benchmarks=" ".join(shlex.quote(p) for p, _ in benchmarks),
            fields=" ".join(",".join(f) for _, f in benchmarks),
            threads=args.threads,
            repeat=args.repeat,
            pieces=shlex.quote(pieces_path),
        )
        print(f"ours: {cmd}", file=sys.stderr)
        ours = json.loads(subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout)
        with open(pieces_path, encoding="utf-8") as f:
            our_pieces = [json.loads(line) for line in f]

    jan, their_pieces, seconds, register_s = run_janitor(janitor_module, benchmarks, texts)
    janitor_result = {
        "peer": f"{LM_EVAL} Janitor (python mode)",
        "ngrams": len(jan.dirt_ngrams),
        "register_seconds": register_s,
        "docs": len(texts),
        "bytes": size,
        "seconds": seconds,
        "MB_per_s": size / 1e6 / seconds,
        "docs_per_s": len(texts) / seconds,
        "dropped_docs": sum(1 for p in their_pieces if not p),
    }
    print(json.dumps({"ours": ours}))
    print(json.dumps({"janitor": janitor_result}))
    print(json.dumps({"speedup": ours["MB_per_s"] / janitor_result["MB_per_s"], "threads": args.threads}))

    if len(our_pieces) != len(texts):
        sys.exit(f"ours wrote {len(our_pieces)} piece lists for {len(texts)} documents")
    print(
        json.dumps(
            {
                "documents_with_matches": {
                    "ours": sum(1 for m in our_pieces if m["hits"]),
                    "janitor": sum(1 for t in texts if matching_ngrams(janitor_module, jan, t)),
                }
            }
        )
    )
    kinds = compare(
        "default (too_dirty_cutoff=10)", janitor_module, jan, records, their_pieces, our_pieces, args.examples
    )
    # The same Janitor with its n-gram cutoff off, untimed: isolates the excision itself.
    uncut = janitor_module.Janitor(ngram_n=13, too_dirty_cutoff=10**9)
    uncut.dirt_ngrams = jan.dirt_ngrams
    uncut_pieces = [uncut.clean_python(t) for t in texts]
    kinds.update(
        compare("too_dirty_cutoff off", janitor_module, uncut, records, uncut_pieces, our_pieces, args.examples)
    )
    for kind in kinds:
        print(f"- {kind}: {EXPLANATIONS[kind]}")


if __name__ == "__main__":
    main()
