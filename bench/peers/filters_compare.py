"""Compare our rule filters' decisions with datatrove 0.10.1's, document by document and filter by filter.

Each of datatrove's GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False)
and FineWebQualityFilter() runs INDEPENDENTLY on every document's text (a fresh Document per filter, so C4's
rewrite does not feed the others). Our side runs the same filters through `corpus quality check` (RuleChain::explain),
which writes one JSON object per document, in input order:
  {"id": ..., "decisions": {"gopher_repetition": null | {"reason": ..., "value": ..., "threshold": ...}, ...}}

Inputs: .jsonl / .json (optionally .gz or .zst) with a `text` field, and WARC/WET files (.warc, .warc.gz,
.warc.wet, .warc.wet.gz), whose `conversion` records (WET text) are the documents.

Usage (with the peers' virtual environment, which bench/peers/setup.sh creates):
  .peers/bin/python bench/peers/filters_compare.py FILE [FILE ...] [--ours-cmd CMD] [--bench] [--datatrove-only]

--ours-cmd is a shell command template with {input} (a jsonl of {"id", "text"} written by this script, the exact
texts datatrove saw) and {out} (where to write the decisions), and the settings matching the datatrove filters
used here as {config} (a pipeline config whose one source, `compare`, reads {input}) or {rules_config} (the same
settings as a JSON RulesConfig). The default runs `corpus` from PATH; from a checkout without it installed:
  --ours-cmd 'cargo run -q --release -p corpus-pipeline -- quality check --input {input} --out {out} \
              --config {config} --source compare'
--bench also times datatrove's chain (GopherRepetition -> GopherQuality -> C4 -> FineWeb, C4's text feeding
FineWeb, stopping at the first removal) on one core and prints MB/s of input text.
"""

import argparse
import collections
import gzip
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

FILTERS = ["gopher_repetition", "gopher_quality", "c4", "fineweb"]

DEFAULT_OURS_CMD = "corpus quality check --input {input} --out {out} --config {config} --source compare"

KNOWN_DIFFERENCES = """\
Known differences (why a decision can disagree):
- Words: datatrove splits English with a blank spaCy 3.8 tokenizer; ours is a port of its algorithm and tables
  (quality/src/rules/words.rs), token for token equal on the sample data, but with a hand-written URL matcher
  equivalent to spaCy's URL_PATTERN taking \\d as ASCII digits, and Unicode 16 character categories where
  Python 3.11 has Unicode 14. Word counts decide gopher_short_doc, the mean word length, the #/ellipsis and
  alphabetic ratios, the n-gram rules, C4's sentence count and FineWeb's list_ratio, so a one-word difference can
  flip a document that sits on a threshold.
- Repetition: duplicate lines, paragraphs and n-grams are compared by 64-bit (xxh3) and 61-bit polynomial hashes
  instead of by string; a collision (probability about 2^-61 per pair) would count as a repeat.
- C4: the optional bad-words rule is ours (datatrove has it as a separate C4BadWordsFilter) and is off here;
  datatrove's split_paragraph=False mode is not implemented.
- Rules datatrove would crash on (a division by zero words when a rule before them is turned off) are skipped on
  our side; an exception on datatrove's side shows as reason error:<type>.
- Values: ours report the measured value and the threshold; datatrove reports only the reason, so only reasons
  are compared."""


def read_documents(path, text_field="text", id_field=None):
    """(id, text) for every document of `path`, in file order."""
    name = os.path.basename(path)
    if ".warc" in name:
        return list(read_warc(path))
    return list(read_jsonl(path, text_field, id_field))


def open_text(path):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    if path.endswith(".zst"):
        try:
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
            return io.TextIOWrapper(stream, encoding="utf-8")
        except ImportError:
            data = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
            return io.StringIO(data.decode("utf-8"))
    return open(path, encoding="utf-8")


def read_jsonl(path, text_field, id_field):
    base = os.path.basename(path)
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            text = record.get(text_field)
            if not isinstance(text, str):
                continue
            doc_id = record.get(id_field) if id_field else None
            if doc_id is None:
                doc_id = record.get("id") or record.get("url") or f"{base}:{lineno}"
            yield str(doc_id), text


def read_warc(path):
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type != "conversion":
                continue
            text = record.content_stream().read().decode("utf-8", errors="replace")
            doc_id = record.rec_headers.get_header("WARC-Record-ID") or record.rec_headers.get_header(
                "WARC-Target-URI"
            )
            yield doc_id, text


def datatrove_filters(c4_terminal_punct):
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "gopher_repetition": GopherRepetitionFilter(),
        "gopher_quality": GopherQualityFilter(),
        "c4": C4QualityFilter(filter_no_terminal_punct=c4_terminal_punct),
        "fineweb": FineWebQualityFilter(),
    }


def rules_config(c4_terminal_punct):
    """Our RulesConfig matching the datatrove filters above (everything else is both sides' default)."""
    # datatrove's C4 defaults (5 sentences, 3 words per line); ours are the TFDS reference code's (3, 5).
    return {"c4": {"filter_no_terminal_punct": c4_terminal_punct, "min_num_sentences": 5, "min_words_per_line": 3}}


def pipeline_config(input_path, workdir, rules):
    """A pipeline config (TOML) with one source, `compare`, reading `input_path`, and `rules` as its
    `[quality.rules.*]` tables (values are booleans and numbers)."""
    lines = [
        "[run]",
        f"work = {json.dumps(os.path.join(workdir, 'run'))}",
        "",
        "[[sources]]",
        'name = "compare"',
        'format = "jsonl"',
        f"paths = [{json.dumps(input_path)}]",
        "weight = 1.0",
    ]
    for name, fields in rules.items():
        lines += ["", f"[quality.rules.{name}]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def run_filter(flt, doc_id, text):
    """datatrove's decision: None (kept) or the reason; an exception is reported as its own reason."""
    from datatrove.data import Document

    try:
        result = flt.filter(Document(text=text, id=doc_id))
    except Exception as e:  # datatrove divides by zero on some degenerate texts
        return f"error:{type(e).__name__}"
    if result is True:
        return None
    if isinstance(result, tuple):
        return result[1]
    return "removed" if not result else None


def datatrove_decisions(docs, filters):
    return [{name: run_filter(flt, doc_id, text) for name, flt in filters.items()} for doc_id, text in docs]


def our_decisions(docs, command, rules, workdir):
    """Our side: writes the texts and the settings, runs `command`, reads the decisions back in input order."""
    input_path = os.path.join(workdir, "documents.jsonl")
    out_path = os.path.join(workdir, "decisions.jsonl")
    config_path = os.path.join(workdir, "compare.toml")
    rules_path = os.path.join(workdir, "rules_config.json")
    with open(input_path, "w", encoding="utf-8") as f:
        for doc_id, text in docs:
            f.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    with open(config_path, "w", encoding="utf-8") as f:
        f.write(pipeline_config(input_path, workdir, rules))
    with open(rules_path, "w", encoding="utf-8") as f:
        json.dump(rules, f)
    if "{config}" not in command and "{rules_config}" not in command:
        print(f"note: --ours-cmd has neither {{config}} nor {{rules_config}}: our side runs its defaults, not {rules}",
              file=sys.stderr)
    cmd = command.format(
        input=shlex.quote(input_path),
        out=shlex.quote(out_path),
        config=shlex.quote(config_path),
        rules_config=shlex.quote(rules_path),
    )
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"our side failed ({done.returncode}): {cmd}\n{done.stderr[-2000:]}")
    records = []
    with open(out_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                decisions = {name: (d or {}).get("reason") for name, d in record["decisions"].items()}
                records.append((str(record.get("id")), decisions))
    if len(records) == len(docs):
        return [decisions for _, decisions in records]
    # Some documents were not read back (the readers skip blank texts): match the rest by id, or by the
    # line number that ends ids like `input/documents.jsonl/7`.
    by_id = dict(records)
    if len(by_id) != len(records):
        raise RuntimeError(f"our side wrote {len(records)} decisions for {len(docs)} documents, ids not unique")
    matched = [by_id.get(doc_id) for doc_id, _ in docs]
    if any(m is not None for m in matched):
        return matched
    by_line = {}
    for record_id, decisions in records:
        line = record_id.rsplit("/", 1)[-1]
        if not line.isdigit():
            raise RuntimeError(f"our side wrote {len(records)} decisions for {len(docs)} documents, "
                               f"and its ids ({record_id!r}) name neither the documents nor their lines")
        by_line[int(line)] = decisions
    return [by_line.get(i) for i in range(len(docs))]


def compare(docs, theirs, ours, examples=3, top=8):
    print(f"{'filter':<18} {'docs':>6} {'dt drop':>8} {'our drop':>8} {'agree %':>8}   "
          f"{'both keep':>9} {'both drop':>9} {'same why':>8} {'dt only':>7} {'ours only':>9}")
    missing = sum(o is None for o in ours)
    if missing:
        print(f"({missing} documents missing from our output, such as blank ones our readers skip, are left out)")
    pairs = [(doc, t, o) for doc, t, o in zip(docs, theirs, ours) if o is not None]
    details = {}
    for name in FILTERS:
        if not any(name in o for _, _, o in pairs):
            print(f"{name:<18} (not run on our side)")
            continue
        counts = collections.Counter()
        disagreements = collections.defaultdict(list)
        for (doc_id, _), t, o in pairs:
            dt, us = t.get(name), o.get(name)
            if dt is None and us is None:
                counts["both_keep"] += 1
            elif dt is not None and us is not None:
                counts["both_drop"] += 1
                if dt == us:
                    counts["same_reason"] += 1
                else:
                    disagreements[f"reason: datatrove {dt} / ours {us}"].append(doc_id)
            elif dt is not None:
                counts["dt_only"] += 1
                disagreements[f"only datatrove drops: {dt}"].append(doc_id)
            else:
                counts["ours_only"] += 1
                disagreements[f"only ours drops: {us}"].append(doc_id)
        n = len(pairs)
        agree = counts["both_keep"] + counts["both_drop"]
        print(f"{name:<18} {n:>6} {counts['both_drop'] + counts['dt_only']:>8} "
              f"{counts['both_drop'] + counts['ours_only']:>8} {100 * agree / max(n, 1):>8.2f}   "
              f"{counts['both_keep']:>9} {counts['both_drop']:>9} {counts['same_reason']:>8} "
              f"{counts['dt_only']:>7} {counts['ours_only']:>9}")
        details[name] = disagreements
    for name, disagreements in details.items():
        if not disagreements:
            continue
        print(f"\n{name}: disagreements")
        ranked = sorted(disagreements.items(), key=lambda kv: -len(kv[1]))
        for why, ids in ranked[:top]:
            print(f"  {len(ids):>5}  {why}   e.g. {', '.join(ids[:examples])}")


def print_datatrove_only(docs, theirs):
    print(f"{'filter':<18} {'docs':>6} {'dt drop':>8}   reasons")
    for name in FILTERS:
        reasons = collections.Counter(t[name] for t in theirs if t[name] is not None)
        listed = ", ".join(f"{r} {c}" for r, c in sorted(reasons.items()))
        print(f"{name:<18} {len(docs):>6} {sum(reasons.values()):>8}   {listed}")


def bench_datatrove_chain(docs, filters, min_seconds=5.0):
    """datatrove's chain on one core: MB/s of input text (UTF-8 bytes), repeating the input for min_seconds."""
    from datatrove.data import Document

    chain = [filters[name] for name in FILTERS]
    total_bytes = sum(len(text.encode("utf-8")) for _, text in docs)
    # Warm up: load spaCy and fill nothing that the timed runs would reuse across documents.
    for flt in chain:
        run_filter(flt, "warmup", "Warm up the tokenizer. It loads on first use.")
    passes, kept, started = 0, 0, time.perf_counter()
    while True:
        for doc_id, text in docs:
            doc = Document(text=text, id=doc_id)
            for flt in chain:
                result = flt.filter(doc)
                if result is not True:
                    break
            else:
                kept += 1
        passes += 1
        seconds = time.perf_counter() - started
        if seconds >= min_seconds:
            break
    print(json.dumps({
        "tool": "datatrove 0.10.1 GopherRepetition -> GopherQuality -> C4 -> FineWeb",
        "threads": 1,
        "documents": len(docs) * passes,
        "kept": kept,
        "text_MB": total_bytes * passes / 1e6,
        "seconds": seconds,
        "text_MB_per_s": total_bytes * passes / 1e6 / seconds,
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="jsonl/json(.gz/.zst) or warc/wet(.gz) files")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--id-field", default=None)
    parser.add_argument("--limit", type=int, default=None, help="at most this many documents")
    parser.add_argument("--ours-cmd", default=DEFAULT_OURS_CMD, help="our side's command template")
    parser.add_argument("--datatrove-only", action="store_true", help="skip our side")
    parser.add_argument("--c4-terminal-punct", action="store_true",
                        help="run C4 with filter_no_terminal_punct=True (default False, as FineWeb runs it)")
    parser.add_argument("--bench", action="store_true", help="also time datatrove's chain on one core")
    parser.add_argument("--bench-seconds", type=float, default=5.0)
    parser.add_argument("--examples", type=int, default=3, help="example ids per disagreement reason")
    args = parser.parse_args()

    docs = []
    for path in args.inputs:
        docs.extend(read_documents(path, args.text_field, args.id_field))
    if args.limit is not None:
        docs = docs[: args.limit]
    total_bytes = sum(len(text.encode("utf-8")) for _, text in docs)
    print(f"{len(docs)} documents, {total_bytes / 1e6:.2f} MB of text, from {len(args.inputs)} file(s)")

    filters = datatrove_filters(args.c4_terminal_punct)
    started = time.perf_counter()
    theirs = datatrove_decisions(docs, filters)
    print(f"datatrove: {time.perf_counter() - started:.1f} s for the four filters run independently\n")

    if args.datatrove_only:
        print_datatrove_only(docs, theirs)
    else:
        with tempfile.TemporaryDirectory(prefix="filters_compare.") as workdir:
            started = time.perf_counter()
            ours = our_decisions(docs, args.ours_cmd, rules_config(args.c4_terminal_punct), workdir)
            print(f"ours: {time.perf_counter() - started:.1f} s (command, including start-up)\n")
        compare(docs, theirs, ours, examples=args.examples)
    print()
    print(KNOWN_DIFFERENCES)
    if args.bench:
        print()
        bench_datatrove_chain(docs, filters, args.bench_seconds)


if __name__ == "__main__":
    main()
