#!/usr/bin/env python3
"""Renders one section of a bench/run.sh run as the Markdown that BENCHMARKS.md holds.

    python3 bench/tables.py SECTION OUT_DIR

bench/run.sh calls this after each section. OUT_DIR holds machine.txt and raw/, where every command of the run
left NAME.cmd (its command line), NAME.out, NAME.err, NAME.wall (seconds) and NAME.load (the 1, 5 and 15 minute
load averages before and after it). Each table is printed with the commands that produced it and the load
average they ran under. Standard library only.
"""

import json
import os
import re
import statistics
import sys

SCRATCH = re.compile(r"/[^ ]*/corpus-bench\.[A-Za-z0-9]{6}")


class Raw:
    """The files run.sh kept for one run."""

    def __init__(self, out):
        self.folder = os.path.join(out, "raw")
        self.binary = read_machine(out)["binary"]

    def has(self, name):
        return os.path.exists(os.path.join(self.folder, name + ".cmd"))

    def text(self, name, ext):
        with open(os.path.join(self.folder, f"{name}.{ext}"), encoding="utf-8") as f:
            return f.read()

    def cmd(self, name):
        """The command line, with the run's scratch folder written as $TMP and the measured binary as `corpus`
        (the peer scripts run it from PATH; the header of the run names the binary)."""
        line = SCRATCH.sub("$TMP", self.text(name, "cmd").strip())
        return re.sub(r"(^|(?<= ))" + re.escape(self.binary) + r"(?= |$)", "corpus", line)

    def wall(self, name):
        return float(self.text(name, "wall"))

    def load(self, name):
        """`before → after` of the 1-minute load average."""
        before, after = self.text(name, "load").split("->")
        return f"{before.split()[0]} → {after.split()[0]}"

    def loads(self, names):
        """The range of 1-minute load averages seen before and after the commands."""
        values = []
        for name in names:
            if self.has(name):
                for part in self.text(name, "load").split("->"):
                    values.append(float(part.split()[0]))
        return f"{min(values):.1f}-{max(values):.1f}" if values else "?"

    def json_lines(self, name):
        """Every stdout line that is a JSON object."""
        lines = []
        for line in self.text(name, "out").splitlines():
            line = line.strip()
            if line.startswith("{") and line.endswith("}"):
                lines.append(json.loads(line))
        return lines

    def last_json(self, name):
        """The last one-line JSON object of stdout, or stdout as one (pretty-printed) JSON object."""
        found = self.json_lines(name)
        if found:
            return found[-1]
        try:
            return json.loads(self.text(name, "out"))
        except ValueError:
            sys.exit(f"tables.py: {name} printed no JSON object")


def commands(raw, names):
    shown = [raw.cmd(n) for n in names if raw.has(n)]
    return "```bash\n" + "\n".join(shown) + "\n```\n"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def mb(value):
    """MB/s with three significant digits."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def count(value):
    return f"{value:,.0f}"


def ratios(ours, theirs):
    return " / ".join(f"{o / t:.0f}x" if o / t >= 10 else f"{o / t:.2f}x" for o, t in zip(ours, theirs))


def read_machine(out):
    """The facts run.sh wrote to machine.txt, as a dict."""
    facts = {}
    with open(os.path.join(out, "machine.txt"), encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            facts[key] = value
    return facts


def machine(out):
    facts = read_machine(out)
    dirty = int(facts.get("dirty") or 0)
    state = f"commit {facts['commit']}" + (f" with {dirty} changed tracked files" if dirty else "")
    load = facts["load"].split()
    text = (
        f"## bench/run.sh, {facts['date']}\n\n"
        f"Machine: {facts['cpu']}, {facts['cores']} cores (`nproc`), {facts['memory_gib']} GiB RAM; "
        f"{facts['rustc']}; working tree at {state}; `corpus` below is `{facts['binary']}` ({facts.get('version', '?')}). Load average at the start: "
        f"{load[0]} / {load[1]} / {load[2]} (1 / 5 / 15 min). Sections: {facts['sections']}.\n"
    )
    if facts.get("quick") == "1":
        text += "\n**Quick mode (`--quick`): small inputs and few repeats, a smoke test; not figures to quote.**\n"
    return text


def cost(raw):
    size = int(raw.text("binary-size", "out"))
    stripped = int(raw.text("binary-size-stripped", "out"))
    runs = sorted(n[:-4] for n in os.listdir(raw.folder) if re.fullmatch(r"quickstart-\d+\.cmd", n))
    walls = " / ".join(f"{raw.wall(n):.2f} s" for n in runs)
    status = raw.last_json("quickstart-status")
    shards = raw.last_json("quickstart-shards")
    ingest = next(s for s in status["stages"] if s["stage"] == "ingest")
    records = ingest["docs_in"]
    what = (
        f"quickstart on the bundled data, from an empty work directory: {records:,} records read, {ingest['docs_out']:,} documents, "
        f"{shards['documents']:,} documents in {shards['shards']} shards, {shards['tokens'] / 1e6:.2f} M tokens"
    )
    rows = [
        ["release binary size, as the release profile builds it",
         "`cargo build --release --bin corpus`", f"{size / 1e6:.1f} MB", ""],
        ["release binary size, stripped", "`strip` of a copy", f"{stripped / 1e6:.1f} MB", ""],
        # Every round's wall time; the first also loads the binary from disk.
        [what, f"`{raw.cmd(runs[0])}`", walls, raw.loads(runs)],
    ]
    return "### Cost facts\n\n" + table(["what", "command", "figure", "load average (1 min)"], rows)


def parse_tiktoken_run(raw, name):
    """(theirs, ours) JSON per round, the input line and the ids check of one tiktoken_compare.py run."""
    lines = raw.json_lines(name)
    theirs = [line for line in lines if line.get("tool", "").startswith("tiktoken")]
    ours = [line for line in lines if line.get("bench") == "tokenize"]
    out = raw.text(name, "out")
    identical = re.search(r"ids identical on (\d+) of (\d+) documents \((\d+) tokens\)", out)
    version = re.search(r"tiktoken (\d+\.\d+\.\d+)", out)
    return theirs, ours, identical, version.group(1) if version else "?"


def tokenizer(raw):
    names = ["tokenizer-r50k-t1", "tokenizer-r50k-t2", "tokenizer-cl100k_base-t1", "tokenizer-o200k_base-t1"]
    rows, checks, version, first = [], [], "?", None
    for name in names:
        if not raw.has(name):
            continue
        theirs, ours, identical, version = parse_tiktoken_run(raw, name)
        first = first or ours[0]
        encoding, threads = ours[0]["encoding"], ours[0]["threads"]
        their_mb = [t["MB_per_s"] for t in theirs]
        our_mb = [o["MB_per_s"] for o in ours]
        rows.append([
            f"{encoding}, {threads} thread{'s' if threads > 1 else ''}",
            " / ".join(mb(v) for v in their_mb),
            " / ".join(mb(v) for v in our_mb) + f" ({ours[0]['engine']})",
            ratios(our_mb, their_mb),
            raw.load(name),
        ])
        where = f"{encoding}, {threads} thread{'s' if threads > 1 else ''}"
        if identical:
            checks.append(f"{where}: ids identical to tiktoken on {int(identical.group(1)):,} of "
                          f"{int(identical.group(2)):,} documents ({int(identical.group(3)):,} tokens)")
        else:
            checks.append(f"{where}: **ids differ** (see {name}.out)")
    text = "### Tokenizer vs tiktoken\n\n" + commands(raw, names + ["tokenizer-check", "tokenizer-tiktoken-rs"])
    text += (f"\nInput: `{first['input']}`, {first['docs']:,} documents, {first['bytes'] / 1e6:.2f} MB of text "
             f"after the jsonl reader's normalisation. Each row is one `tiktoken_compare.py` run, the two sides "
             f"alternating once per round.\n\n")
    text += table(["encoding, threads", f"tiktoken {version} MB/s", "corpus MB/s (engine)", "ratio",
                   "load average (1 min)"], rows)
    check = raw.last_json("tokenizer-check")
    reference = raw.last_json("tokenizer-tiktoken-rs")
    checked = check.get("check") or {}
    checks.append(
        f"`--check` (native engine against tiktoken-rs, every document): {checked.get('differing_docs', '?')} "
        f"differing documents of {check['docs']:,}"
    )
    checks.append(f"r50k_base with `--engine tiktoken-rs`, 1 thread: {mb(reference['MB_per_s'])} MB/s "
                  f"(load {raw.load('tokenizer-tiktoken-rs')})")
    return text + "\n" + "".join(f"- {c}\n" for c in checks)


def filters(raw):
    names = ["filters-ours-t1-a", "filters-peer", "filters-ours-t1-b", "filters-ours-t2"]
    peer_out = raw.text("filters-peer", "out")
    bench = next(line for line in raw.json_lines("filters-peer") if "text_MB_per_s" in line)
    t1 = [raw.last_json(n) for n in ("filters-ours-t1-a", "filters-ours-t1-b")]
    t2 = raw.last_json("filters-ours-t2")
    theirs = bench["text_MB_per_s"]
    rows = [
        ["datatrove 0.10.1, one core", mb(theirs), count(bench["documents"] / bench["seconds"]),
         raw.load("filters-peer")],
        ["corpus, 1 thread (before and after the peer)", " / ".join(mb(r["MB_per_s"]) for r in t1),
         " / ".join(count(r["docs_per_s"]) for r in t1),
         f"{raw.load('filters-ours-t1-a')}, {raw.load('filters-ours-t1-b')}"],
        ["corpus, 2 threads", mb(t2["MB_per_s"]), count(t2["docs_per_s"]), raw.load("filters-ours-t2")],
    ]
    text = "### Quality rule filters vs datatrove\n\n" + commands(raw, names)
    text += (f"\nInput: `{t1[0]['input']}`, {t1[0]['documents']:,} documents, {t1[0]['bytes'] / 1e6:.2f} MB. Both "
             f"sides run the same settings (`filters_compare.py`'s, written to `$TMP/filters.toml`; C4 with "
             f"datatrove's defaults and no terminal-punctuation rule).\n\n")
    text += table(["chain: GopherRepetition → GopherQuality → C4 → FineWeb (C4's cleaned text feeds FineWeb)",
                   "MB/s", "docs/s", "load average (1 min)"], rows)
    text += (f"\ncorpus, 1 thread: {ratios([r['MB_per_s'] for r in t1], [theirs, theirs])} datatrove's chain "
             f"per core in the same run.\n")
    # The decision table filters_compare.py prints, as Markdown.
    parity = []
    for line in peer_out.splitlines():
        cells = line.split()
        if cells and cells[0] in ("gopher_repetition", "gopher_quality", "c4", "fineweb") and len(cells) == 10:
            parity.append(cells)
    if parity:
        text += ("\nDecisions, each filter run independently on each document (`filters_compare.py`; reasons "
                 "compared where both drop):\n\n")
        text += table(["filter", "documents", "datatrove drops", "corpus drops", "agree %", "both keep",
                       "both drop", "same reason", "datatrove only", "corpus only"], parity)
    disagreements = re.findall(r"^(\w+): disagreements\n((?:  .*\n)+)", peer_out, re.MULTILINE)
    for name, lines in disagreements:
        text += f"\n{name}, disagreements:\n\n" + "".join(f"- {l.strip()}\n" for l in lines.splitlines())
    return text


def minhash(raw):
    names = ["minhash-peer", "minhash-ours-t1", "minhash-ours-t2", "minhash-ours-gpt3"]
    lines = raw.json_lines("minhash-peer")
    signatures = next(l for l in lines if "get_signature" in l.get("tool", ""))
    full = next((l for l in lines if ".run" in l.get("tool", "")), None)
    in_script = next(l for l in lines if l.get("bench") == "minhash")
    t1, t2, gpt3 = (raw.last_json(n) for n in names[1:])
    rows = [["datatrove 0.10.1 `get_shingles` + `get_signature`, one core", mb(signatures["MB_per_s"]),
             count(signatures["docs"] / signatures["seconds"]), raw.load("minhash-peer")]]
    if full:
        rows.append(["datatrove 0.10.1 whole `MinhashDedupSignature.run` (writes and sorts the 14 bucket files), "
                     "one core", mb(full["MB_per_s"]), count(full["docs"] / full["seconds"]), ""])
    rows += [
        [f"corpus `--mode words`, 1 thread, in the same script run ({in_script['kernel']} kernel)",
         mb(in_script["MB_per_s"]), count(in_script["docs_per_s"]), ""],
        ["corpus `--mode words`, 1 thread, right after", mb(t1["MB_per_s"]), count(t1["docs_per_s"]),
         raw.load("minhash-ours-t1")],
        ["corpus `--mode words`, 2 threads", mb(t2["MB_per_s"]), count(t2["docs_per_s"]),
         raw.load("minhash-ours-t2")],
        ["corpus `--mode gpt3` (Spark MinHashLSH, 10 tables, over the classifier's hashed tokens), 1 thread",
         mb(gpt3["MB_per_s"]), count(gpt3["docs_per_s"]), raw.load("minhash-ours-gpt3")],
    ]
    same = "the same" if t1["checksum"] == t2["checksum"] else "**not the same**"
    text = "### MinHash signatures vs datatrove\n\n" + commands(raw, names)
    text += f"\nInput: `{t1['input']}`, {t1['docs']:,} documents, {t1['bytes'] / 1e6:.2f} MB.\n\n"
    text += table(["MinHash signatures, 14 × 8, 5-grams", "MB/s", "docs/s", "load average (1 min)"], rows)
    theirs = signatures["MB_per_s"]
    return text + (f"\ncorpus, 1 thread: {ratios([in_script['MB_per_s'], t1['MB_per_s']], [theirs, theirs])} "
                   f"datatrove per core (in the script run / right after). The band-key checksum is {same} "
                   f"for 1 and 2 threads.\n")


def decontam(raw):
    names = ["decontam-peer", "decontam-ours-janitor-t2", "decontam-ours-gpt3-t1"]
    lines = raw.json_lines("decontam-peer")
    ours = next(l["ours"] for l in lines if "ours" in l)
    theirs = next(l["janitor"] for l in lines if "janitor" in l and isinstance(l["janitor"], dict))
    speedup = next(l["speedup"] for l in lines if "speedup" in l)
    summaries = [l for l in lines if "identical_pieces" in l]
    t2, gpt3 = raw.last_json(names[1]), raw.last_json(names[2])
    benchmarks = " + ".join(b["name"] for b in ours["benchmarks"])
    rows = [
        ["lm-eval 0.4.13 Janitor `clean_python`, one core", mb(theirs["MB_per_s"]), count(theirs["docs_per_s"]),
         raw.load("decontam-peer")],
        ["corpus `--mode janitor`, 1 thread, in the same script run", mb(ours["MB_per_s"]),
         count(ours["docs_per_s"]), ""],
        ["corpus `--mode janitor`, 2 threads (input without the planted documents)", mb(t2["MB_per_s"]),
         count(t2["docs_per_s"]), raw.load(names[1])],
        ["corpus `--mode gpt3`, 1 thread (input without the planted documents)", mb(gpt3["MB_per_s"]),
         count(gpt3["docs_per_s"]), raw.load(names[2])],
    ]
    text = "### Decontamination vs the lm-eval Janitor\n\n" + commands(raw, names)
    text += (f"\nInput: the {t2['docs']:,} documents of `{t2['input']}` plus the documents the script plants "
             f"benchmark passages in: {theirs['docs']:,} documents, {theirs['bytes'] / 1e6:.2f} MB. "
             f"13-grams of {benchmarks}: {theirs['ngrams']:,} on the Janitor's side, {ours['ngrams']:,} on ours.\n\n")
    text += table([f"decontamination, {benchmarks} 13-grams", "MB/s", "docs/s", "load average (1 min)"], rows)
    text += f"\ncorpus, 1 thread: {speedup:.0f}x the Janitor per core in the same script run.\n"
    if summaries:
        text += ("\nOutput parity (each document's pieces; the script explains every kind of difference):\n\n")
        text += table(["Janitor", "documents", "identical pieces", "differ", "kinds of difference"],
                      [[s["janitor"], s["documents"], s["identical_pieces"], s["differ"],
                        ", ".join(f"{k} {v}" for k, v in s["differences"].items()) or "none"] for s in summaries])
        explanations = re.findall(r"^- (\w+): (.*)$", raw.text("decontam-peer", "out"), re.MULTILINE)
        text += "\n" + "".join(f"- `{k}`: {v}\n" for k, v in explanations)
    return text


def readers(raw):
    names = sorted(n[:-4] for n in os.listdir(raw.folder) if n.startswith("read-") and n.endswith(".cmd"))
    order = ["read-jsonl", "read-jsonl-gz", "read-parquet", "read-text", "read-wikipedia", "read-wet", "read-warc"]
    rows = []
    for name in order:
        if name not in names:
            continue
        result = raw.last_json(name)
        cmd = raw.cmd(name)
        path = re.search(r"--input (\S+)", cmd).group(1)
        repeat = int(re.search(r"--repeat (\d+)", cmd).group(1))
        size = os.path.getsize(path) if os.path.exists(path) else 0
        shown = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} KB"
        rows.append([result["format"], f"`{os.path.basename(path)}` ({shown}) x{repeat}",
                     mb(result["input_MB_per_s"]), mb(result["text_MB_per_s"]), count(result["docs_per_s"]),
                     f"{result['documents']:,} / {result['rejects']:,} / {result['skips']:,}", raw.load(name)])
    text = "### Source readers (one core)\n\n" + commands(raw, [n for n in order if n in names])
    text += "\n" + table(["format", "input", "input MB/s", "text MB/s", "docs/s", "documents / rejects / skips",
                          "load average (1 min)"], rows)
    peer = raw.last_json("read-warc-peer")
    ours = raw.last_json("read-warc-again")
    text += "\nWARC to text against the peer, same file, one after the other:\n\n"
    text += commands(raw, ["read-warc-peer", "read-warc-again"]) + "\n"
    text += table(["tool", "seconds", "input MB/s", "documents", "load average (1 min)"], [
        ["corpus `warc` reader (Readability via dom_smoothie, body fallback)", f"{ours['seconds']:.2f}",
         mb(ours["input_MB_per_s"]), f"{ours['documents']:,}", raw.load("read-warc-again")],
        ["datatrove 0.10.1 WarcReader + Trafilatura (favour_precision)", f"{peer['seconds']:.2f}",
         mb(peer["input_MB_per_s"]), f"{peer['documents']:,}", raw.load("read-warc-peer")],
    ])
    return text + f"\ncorpus reads the file {peer['seconds'] / ours['seconds']:.1f}x faster per core.\n"


def classifier(raw):
    result = raw.last_json("classifier-train")
    report = result["report"]
    auc = report.get("heldout_auc")
    accuracy = report.get("heldout_accuracy")
    return "### Quality classifier training\n\n" + table(
        ["what", "command", "wall", "held-out accuracy / AUC", "L-BFGS iterations", "load average (1 min)"],
        [[f"`corpus quality train` ({result['kind']}) on the bundled samples: {result['positive_documents']:,} "
          f"positive, {result['negative_documents']:,} negative documents", f"`{raw.cmd('classifier-train')}`",
          f"{raw.wall('classifier-train'):.1f} s",
          f"{accuracy:.3f} / {auc:.3f}" if accuracy is not None and auc is not None else "n/a",
          f"{report['iterations']}{'' if report['converged'] else ' (not converged)'}",
          raw.load("classifier-train")]],
    )


def train(raw):
    rows = []
    for name in ("train-tiny", "train-gpt2-124m"):
        steps = [l for l in raw.json_lines(name) if "step" in l]
        cmd = raw.cmd(name)
        batch = int(re.search(r"--batch (\d+)", cmd).group(1))
        seq = int(re.search(r"--seq (\d+)", cmd).group(1))
        later = [s["time_ms"] / 1e3 for s in steps[1:]] or [steps[0]["time_ms"] / 1e3]
        if len(steps) > 2:
            per_step = f"{statistics.median(later):.2f} s (median of steps 2-{len(steps)}; step 1: "
        elif len(steps) == 2:
            per_step = f"{later[0]:.2f} s (step 2; step 1: "
        else:
            per_step = f"{later[0]:.2f} s (one step"
        per_step += f"{steps[0]['time_ms'] / 1e3:.2f} s)" if len(steps) > 1 else ")"
        rows.append([re.search(r"--model (\S+)", cmd).group(1), f"`{cmd}`", batch * seq, per_step,
                     count(batch * seq / statistics.median(later)), raw.load(name)])
    return "### CPU GPT trainer\n\n" + table(
        ["model", "command", "tokens/step", "time/step", "tokens/s", "load average (1 min)"], rows)


def memory(raw):
    jsonl_copies, warc_copies, warc_source = raw.text("memory", "copies").split()
    rows = []
    for fmt, what in (("jsonl", f"Dolma sample x{jsonl_copies}, plain JSONL"),
                      ("warc", f"`{os.path.basename(warc_source)}` x{warc_copies}, gzip-compressed WARC")):
        name = f"memory-{fmt}"
        measured = re.search(r"wall ([\d.]+) s, max RSS (\d+) KiB", raw.text(name, "err"))
        size = int(raw.text(name, "bytes"))
        seconds = float(measured.group(1))
        rows.append([f"{what}: {size / 1e9:.2f} GB as stored", f"{seconds:.1f} s ({size / 1e6 / seconds:.0f} MB/s)",
                     f"{int(measured.group(2)) / 1024:.0f} MiB", raw.load(name)])
    text = "### Memory: streaming ingest, one task\n\n" + commands(raw, ["memory-jsonl", "memory-warc"])
    text += ("\n(`$TMP/memory/jsonl.toml` and `warc.toml`: one source reading the file, `tasks = 1`; run.sh keeps "
             "copies in `raw/memory-*.toml`.)\n\n")
    return text + table(["input", "wall", "peak RSS", "load average (1 min)"], rows)


def dedup_scale(raw):
    text = "### Dedup at scale in bounded memory\n\n" + commands(raw, ["dedup-scale", "dedup-scale-verify"])
    for name in ["dedup-scale", "dedup-scale-verify"]:
        if not raw.has(name):
            continue
        out = raw.text(name, "out")
        summary = json.loads(out[: out.index("\n\n| stage")])
        rows = [[s["stage"], s["task_runs"], s["peak_rss_mib"], s["seconds"]] for s in summary["stages"]]
        corpus = summary["corpus"]
        verify = "with `dedup.verify = true` (every candidate pair's exact Jaccard checked)" if summary.get(
            "verify") else "without verification"
        text += (f"\n{verify}: {corpus['bytes'] / 1e9:.2f} GB of JSONL, {corpus['documents']:,} documents, "
                 f"{corpus['exact_copies']:,} planted exact and {corpus['near_copies']:,} near copies; "
                 f"{summary['tasks']} tasks, `dedup.memory_mb = {summary['memory_mb']}`. Load average "
                 f"{raw.load(name)}.\n\n")
        text += table(["stage", "task runs", "peak RSS per task (MiB)", "wall, all tasks (s)"], rows)
        for row in summary.get("dedup_report") or []:
            sizes = ", ".join(f"{c['clusters']:,} of {c['size']}" for c in row.get("cluster_sizes") or [])
            text += (f"\nDedup report (`reports/dedup.parquet`), source {row['source']}: {row['docs_in']:,} "
                     f"documents in, {row['docs_out']:,} out; {row['exact_duplicates']:,} exact and "
                     f"{row['near_duplicates']:,} near duplicates; clusters by size: {sizes}.\n")
    return text


def build(raw):
    measured = re.search(r"wall ([\d.]+) s, user ([\d.]+) s, sys ([\d.]+) s", raw.text("build-cold", "err"))
    return "### Cold release build\n\n" + table(
        ["what", "command", "wall", "CPU (user)", "load average (1 min)"],
        [["the release binary from an empty target directory (crates already downloaded)",
          f"`{raw.cmd('build-cold')}`", f"{float(measured.group(1)):.0f} s", f"{float(measured.group(2)):.0f} s",
          raw.load("build-cold")]])


def tests(raw):
    out = raw.text("tests", "out")
    results = re.findall(r"test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored.*finished in ([\d.]+)s",
                         out)
    passed = sum(int(r[1]) for r in results)
    failed = sum(int(r[2]) for r in results)
    ignored = sum(int(r[3]) for r in results)
    longest = max((float(r[4]) for r in results), default=0.0)
    return "### Test suite\n\n" + table(
        ["what", "command", "wall", "tests", "longest test binary", "load average (1 min)"],
        [["all tests, warm build", f"`{raw.cmd('tests')}`", f"{raw.wall('tests'):.0f} s",
          f"{passed} passed, {failed} failed, {ignored} ignored", f"{longest:.0f} s", raw.load("tests")]])


def scurve(raw):
    out = raw.text("scurve", "out")
    rows = [line for line in out.splitlines() if re.match(r"(J bucket|\d\.\d\d-\d\.\d\d) ", line)]
    pairs = re.search(r"CORPUS_SCURVE_PAIRS=(\d+)", raw.cmd("scurve"))
    return ("### The LSH S-curve (14 bands × 8 rows)\n\n" + commands(raw, ["scurve"]) + "\n"
            + f"{int(pairs.group(1)):,} pairs of random 200-word documents, the second with some words replaced; "
            + "\"detected\" means the pair shares a band key; the test fails past 5σ in any bucket. "
            + f"Wall {raw.wall('scurve'):.0f} s (with the test's build), load average {raw.load('scurve')}.\n\n"
            + "```\n" + "\n".join(rows) + "\n```\n")


def fuzz(raw):
    found = re.search(r"readers survived (\d+) mutated inputs: (\d+) of each of (\d+) sample variants",
                      raw.text("fuzz", "out"))
    if not found:
        sys.exit("tables.py: the fuzz run printed no summary line")
    total, each, variants = (int(g) for g in found.groups())
    return "### Readers on arbitrary bytes\n\n" + commands(raw, ["fuzz"]) + "\n" + table(
        ["mutated inputs", "sample variants", "wall", "result", "load average (1 min)"],
        [[f"{total:,} ({each:,} per variant)", f"{variants}", f"{raw.wall('fuzz'):.0f} s",
          "no panic, every record well-formed or a reject row", raw.load("fuzz")]])


SECTIONS = {
    "cost": cost, "tokenizer": tokenizer, "filters": filters, "minhash": minhash, "decontam": decontam,
    "readers": readers, "classifier": classifier, "train": train, "memory": memory, "dedup-scale": dedup_scale,
    "build": build, "tests": tests, "scurve": scurve, "fuzz": fuzz,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in list(SECTIONS) + ["machine"]:
        sys.exit(f"usage: tables.py machine|{'|'.join(SECTIONS)} OUT_DIR")
    section, out = sys.argv[1], sys.argv[2]
    text = machine(out) if section == "machine" else SECTIONS[section](Raw(out))
    print(text)


if __name__ == "__main__":
    main()
