#!/usr/bin/env python3
"""Dedup at scale in bounded memory: generates a corpus of at least --gb gigabytes from the bundled samples
(documents built from random sentences of the web samples and books, with planted exact and near-duplicate
copies), then runs every task of every stage up to dedup-filter one at a time with `corpus stage`, under
/usr/bin/time, and prints each stage's peak RSS per task and wall time (BENCHMARKS.md, "Dedup at scale").

    python3 bench/dedup_scale.py --out /tmp/dedup-scale --gb 2 --tasks 8 --memory-mb 256

`corpus` must be on PATH (a release build). Only the standard library is needed; pyarrow, when importable,
adds the dedup report's totals.
"""

import argparse
import glob
import gzip
import json
import os
import random
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = [
    "ingest",
    "quality",
    "dedup-signatures",
    "dedup-candidates",
    "dedup-components",
    "dedup-clusters",
    "dedup-filter",
]


def sample_sentences():
    """Every sentence of the bundled web samples and books."""
    texts = []
    data = os.path.join(REPO, "tests", "data")
    for path in glob.glob(os.path.join(data, "webtext", "*.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    texts.append(json.loads(line).get("text", ""))
                except ValueError:
                    pass
    for path in glob.glob(os.path.join(data, "books", "*.txt")):
        with open(path, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    sentences = []
    for text in texts:
        for s in re.split(r"(?<=[.!?])\s+", text):
            s = " ".join(s.split())
            if 20 <= len(s) <= 600:
                sentences.append(s)
    return sentences


def perturb(text, rng, fraction):
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * fraction))):
        words[rng.randrange(len(words))] = rng.choice(words)
    return " ".join(words)


def generate(out, gb, files, seed):
    """Writes `files` JSONL files totalling at least `gb` GB; 8% exact and 12% near-duplicate copies."""
    os.makedirs(out, exist_ok=True)
    done = os.path.join(out, "_generated")
    if os.path.exists(done):
        return json.load(open(done))
    rng = random.Random(seed)
    sentences = sample_sentences()
    target = int(gb * 1e9)
    per_file = target // files + 1
    recent = []
    stats = {"documents": 0, "bytes": 0, "exact_copies": 0, "near_copies": 0}
    for k in range(files):
        written = 0
        with open(os.path.join(out, f"part-{k:03}.jsonl"), "w", encoding="utf-8") as f:
            while written < per_file:
                roll = rng.random()
                if recent and roll < 0.08:
                    text = rng.choice(recent)
                    stats["exact_copies"] += 1
                elif recent and roll < 0.20:
                    text = perturb(rng.choice(recent), rng, rng.choice([0.01, 0.02, 0.05]))
                    stats["near_copies"] += 1
                else:
                    text = " ".join(rng.choice(sentences) for _ in range(rng.randint(10, 40)))
                    recent.append(text)
                    if len(recent) > 5000:
                        recent.pop(rng.randrange(len(recent)))
                line = json.dumps({"text": text}) + "\n"
                f.write(line)
                written += len(line.encode("utf-8"))
                stats["documents"] += 1
        stats["bytes"] += written
        print(f"generated {out}/part-{k:03}.jsonl ({written / 1e6:.0f} MB)", file=sys.stderr)
    json.dump(stats, open(done, "w"))
    return stats


def timed(cmd):
    """Runs a command under /usr/bin/time; returns (exit code, peak RSS in KiB, seconds, stderr tail)."""
    started = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "__RSS__ %M"] + cmd, capture_output=True, text=True)
    rss = 0
    for line in p.stderr.splitlines():
        if line.startswith("__RSS__"):
            rss = int(line.split()[1])
    return p.returncode, rss, time.time() - started, p.stderr[-2000:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/dedup-scale")
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--memory-mb", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="threads per task (0: all cores)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verify", action="store_true",
                    help="dedup.verify = true: every candidate pair's exact Jaccard checked (its memory is bounded too)")
    args = ap.parse_args()

    data = os.path.join(args.out, "data")
    stats = generate(data, args.gb, args.files, args.seed)
    work = os.path.join(args.out, "work")
    config = os.path.join(args.out, "config.toml")
    with open(config, "w") as f:
        f.write(
            f'[run]\nwork = "{work}"\ntasks = {args.tasks}\n\n'
            f'[[sources]]\nname = "webtext2"\nformat = "jsonl"\npaths = ["{data}/part-*.jsonl"]\nweight = 1.0\n\n'
            f"[quality.rules]\nsources = []\n\n[dedup]\nmemory_mb = {args.memory_mb}\n"
            f"verify = {'true' if args.verify else 'false'}\n"
        )
    threads = ["--threads", str(args.threads)] if args.threads else []
    rows = []
    for stage in STAGES:
        peak, seconds, runs = 0, 0.0, 0
        rounds = 200 if stage == "dedup-components" else 1
        for _ in range(rounds):
            if stage == "dedup-components" and os.path.exists(
                os.path.join(work, "dedup/components/_done", f"{args.tasks - 1:05}.json")
            ):
                break
            for task in range(args.tasks):
                code, rss, secs, err = timed(
                    ["corpus", "stage", stage, "--config", config, "--task", str(task)] + threads
                )
                if code != 0:
                    sys.exit(f"{stage} task {task} failed:\n{err}")
                peak, seconds, runs = max(peak, rss), seconds + secs, runs + 1
        rows.append({"stage": stage, "task_runs": runs, "peak_rss_mib": round(peak / 1024, 1),
                     "seconds": round(seconds, 1)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    summary = {"corpus": stats, "tasks": args.tasks, "memory_mb": args.memory_mb, "verify": args.verify,
               "stages": rows}
    try:
        import pyarrow.parquet as pq

        summary["dedup_report"] = pq.read_table(os.path.join(work, "reports/dedup.parquet")).to_pylist()
    except ImportError:
        pass
    print(json.dumps(summary, indent=1))
    print("\n| stage | task runs | peak RSS per task (MiB) | wall (s, all tasks) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['task_runs']} | {r['peak_rss_mib']} | {r['seconds']} |")


if __name__ == "__main__":
    main()
