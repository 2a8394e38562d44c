"""Time datatrove 0.10.1's MinhashDedupSignature against `corpus bench minhash` on the same JSONL, one core each.

Both sides compute, per document, what the first phase of MinHash deduplication needs: datatrove's
`get_shingles` (simplify_text, its English word tokenizer, 5-gram xxhash64 shingles) and `get_signature`
(112 permutations (a*h + b) mod 2^61-1 with numpy, split into 14 buckets of 8); ours normalises, shingles
(5-grams, xxh3-64), computes the exact 112 permutations and the 14 band keys (`corpus bench minhash --mode
words --threads 1`). The figure is MB/s of document text (UTF-8 bytes). With --full-step, datatrove's whole
`MinhashDedupSignature.run` (signatures written to 14 bucket files in a temporary folder, then sorted) is
timed as well.

Usage (with the peers' virtual environment, which bench/peers/setup.sh creates):
  .peers/bin/python bench/peers/minhash_compare.py FILE.jsonl [--repeat K] [--seconds S] [--full-step]
      [--ours-cmd CMD]

--ours-cmd is a shell command template with {input} and {repeat}; the default runs `corpus` from PATH:
  corpus bench minhash --input {input} --threads 1 --repeat {repeat} --mode words
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from filters_compare import read_jsonl  # noqa: E402  (same reader conventions as the filters comparison)

DEFAULT_OURS_CMD = "corpus bench minhash --input {input} --threads 1 --repeat {repeat} --mode words"


def datatrove_step(output_folder):
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64))
    return MinhashDedupSignature(output_folder=output_folder, config=config)


def bench_datatrove_signatures(texts, min_seconds):
    """get_shingles + get_signature per document, on one core, repeating the input for min_seconds."""
    with tempfile.TemporaryDirectory(prefix="minhash_compare.") as folder:
        step = datatrove_step(folder)
        # Warm up: load the word tokenizer and draw the permutation parameters.
        step.get_signature(step.get_shingles("Warm up the word tokenizer, it loads on first use. " * 4))
        total_bytes = sum(len(t.encode("utf-8")) for t in texts)
        passes, started = 0, time.perf_counter()
        while True:
            for text in texts:
                shingles = step.get_shingles(text)
                if shingles.size != 0:
                    step.get_signature(shingles)
            passes += 1
            seconds = time.perf_counter() - started
            if seconds >= min_seconds:
                break
    return {
        "tool": "datatrove 0.10.1 MinhashDedupSignature get_shingles + get_signature",
        "threads": 1,
        "docs": len(texts) * passes,
        "bytes": total_bytes * passes,
        "seconds": seconds,
        "MB_per_s": total_bytes * passes / 1e6 / seconds,
    }


def bench_datatrove_full_step(texts):
    """MinhashDedupSignature.run over the documents: signatures, 14 bucket files, the sort."""
    from datatrove.data import Document

    with tempfile.TemporaryDirectory(prefix="minhash_compare.") as folder:
        step = datatrove_step(folder)
        step.get_signature(step.get_shingles("Warm up the word tokenizer, it loads on first use. " * 4))
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        started = time.perf_counter()
        step.run(iter(docs), rank=0, world_size=1)
        seconds = time.perf_counter() - started
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return {
        "tool": "datatrove 0.10.1 MinhashDedupSignature.run (write + sort buckets)",
        "threads": 1,
        "docs": len(texts),
        "bytes": total_bytes,
        "seconds": seconds,
        "MB_per_s": total_bytes / 1e6 / seconds,
    }


def bench_ours(command, path, repeat):
    cmd = command.format(input=shlex.quote(path), repeat=repeat)
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"our side failed ({done.returncode}): {cmd}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a .jsonl / .json (optionally .gz or .zst) file with a `text` field")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes on our side")
    parser.add_argument("--seconds", type=float, default=20.0, help="least time datatrove is timed for")
    parser.add_argument("--full-step", action="store_true", help="also time datatrove's whole step")
    parser.add_argument("--ours-cmd", default=DEFAULT_OURS_CMD, help="our side's command template")
    args = parser.parse_args()

    # Our reader skips blank texts; so does this side, so both hash the same documents.
    texts = [text for _, text in read_jsonl(args.input, args.text_field, None) if text.strip()]
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)
    print(f"{len(texts)} documents, {total_bytes / 1e6:.2f} MB of text, from {args.input}")

    theirs = bench_datatrove_signatures(texts, args.seconds)
    print(json.dumps(theirs))
    if args.full_step:
        print(json.dumps(bench_datatrove_full_step(texts)))
    ours = bench_ours(args.ours_cmd, args.input, args.repeat)
    print(json.dumps(ours))
    ratio = ours["MB_per_s"] / theirs["MB_per_s"]
    print(f"\nMinHash signatures, one core: datatrove {theirs['MB_per_s']:.3f} MB/s, "
          f"corpus {ours['MB_per_s']:.1f} MB/s ({ours.get('kernel', '?')} kernel): {ratio:.0f}x")


if __name__ == "__main__":
    main()
