"""Time Python tiktoken's `encode_ordinary_batch` against `corpus bench tokenize` on the same JSONL, at the same
thread count, and check that both give the same ids for every document.

Both sides encode the same document texts: the JSONL's text field after the jsonl reader's normalisation
(`\\r\\n` and lone `\\r` to `\\n`, Unicode NFC; whitespace-only texts skipped), so the byte and document
counts printed for the two sides must match. tiktoken runs `encode_ordinary_batch(texts, num_threads=N)`
over all documents, repeated until at least --seconds have passed; ours runs `corpus bench tokenize
--threads N --repeat R --ids-out FILE` and its ids are read back from FILE (per document a little-endian
u32 count, then the ids) and compared document by document with tiktoken's.

tiktoken downloads its rank files on first use, which fails offline; this script copies tiktoken-rs's copy
(the same file, from cargo's registry, or --assets DIR) into a private TIKTOKEN_CACHE_DIR under the name
tiktoken looks for (sha1 of the URL), and tiktoken checks the file's sha256 itself.

Usage (with the peers' virtual environment, which bench/peers/setup.sh creates):
  .peers/bin/python bench/peers/tiktoken_compare.py FILE.jsonl [--threads N] [--encoding E] [--repeat R]
      [--seconds S] [--rounds K] [--ours-cmd CMD]

--ours-cmd is a shell command template with {input}, {threads}, {encoding}, {repeat} and {ids_out}; the
default runs `corpus` from PATH.
"""

import argparse
import glob
import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from filters_compare import read_jsonl  # noqa: E402  (same reader conventions as the filters comparison)

DEFAULT_OURS_CMD = (
    "corpus bench tokenize --input {input} --threads {threads} --encoding {encoding} --repeat {repeat} "
    "--ids-out {ids_out}"
)
RANK_FILE_URL = "https://openaipublic.blob.core.windows.net/encodings/{encoding}.tiktoken"


def offline_encoding(name, assets):
    """tiktoken.get_encoding(name) with the rank file taken from tiktoken-rs's assets instead of the web."""
    if assets is None:
        cargo_home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
        found = sorted(glob.glob(os.path.join(cargo_home, "registry/src/*/tiktoken-rs-*/assets")))
        if not found:
            raise SystemExit("no tiktoken-rs assets in cargo's registry: build corpus first or pass --assets")
        assets = found[-1]
    cache = tempfile.mkdtemp(prefix="tiktoken_cache.")
    url = RANK_FILE_URL.format(encoding=name)
    shutil.copy(os.path.join(assets, f"{name}.tiktoken"), os.path.join(cache, hashlib.sha1(url.encode()).hexdigest()))
    os.environ["TIKTOKEN_CACHE_DIR"] = cache
    import tiktoken

    return tiktoken.get_encoding(name), tiktoken.__version__


def normalize(text):
    """The jsonl reader's document form: `\\n` line ends and Unicode NFC."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def bench_tiktoken(enc, texts, threads, min_seconds):
    enc.encode_ordinary_batch(["Warm up the encoder and its thread pool."] * threads, num_threads=threads)
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)
    passes, ids = 0, None
    started = time.perf_counter()
    while True:
        ids = enc.encode_ordinary_batch(texts, num_threads=threads)
        passes += 1
        seconds = time.perf_counter() - started
        if seconds >= min_seconds:
            break
    tokens = sum(len(d) for d in ids)
    return ids, {
        "tool": "tiktoken encode_ordinary_batch",
        "threads": threads,
        "docs": len(texts),
        "bytes": total_bytes,
        "tokens": tokens,
        "passes": passes,
        "seconds": seconds,
        "MB_per_s": total_bytes * passes / 1e6 / seconds,
        "tokens_per_s": tokens * passes / seconds,
    }


def bench_ours(command, path, threads, encoding, repeat, ids_out):
    cmd = command.format(
        input=shlex.quote(path), threads=threads, encoding=encoding, repeat=repeat, ids_out=shlex.quote(ids_out)
    )
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"our side failed ({done.returncode}): {cmd}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_ids(path):
    with open(path, "rb") as f:
        data = f.read()
    docs, at = [], 0
    while at < len(data):
        (count,) = struct.unpack_from("<I", data, at)
        at += 4
        docs.append(list(struct.unpack_from(f"<{count}I", data, at)))
        at += 4 * count
    return docs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a .jsonl / .json (optionally .gz or .zst) file with a `text` field")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--encoding", default="r50k_base")
    parser.add_argument("--repeat", type=int, default=10, help="timed passes on our side")
    parser.add_argument("--seconds", type=float, default=10.0, help="least time tiktoken is timed for")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the two sides this many times")
    parser.add_argument("--assets", help="folder with <encoding>.tiktoken (default: tiktoken-rs's in cargo's registry)")
    parser.add_argument("--ours-cmd", default=DEFAULT_OURS_CMD, help="our side's command template")
    args = parser.parse_args()

    enc, version = offline_encoding(args.encoding, args.assets)
    texts = [normalize(text) for _, text in read_jsonl(args.input, args.text_field, None)]
    texts = [t for t in texts if t.strip()]
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)
    print(f"{len(texts)} documents, {total_bytes / 1e6:.2f} MB of text, from {args.input}; tiktoken {version}")

    with tempfile.TemporaryDirectory(prefix="tiktoken_compare.") as folder:
        ids_out = os.path.join(folder, "ids.bin")
        results = []
        for _ in range(max(1, args.rounds)):
            their_ids, theirs = bench_tiktoken(enc, texts, args.threads, args.seconds)
            theirs["tool"] += f" (tiktoken {version})"
            print(json.dumps(theirs))
            ours = bench_ours(args.ours_cmd, args.input, args.threads, args.encoding, args.repeat, ids_out)
            print(json.dumps(ours))
            results.append((theirs["MB_per_s"], ours["MB_per_s"]))
        our_ids = read_ids(ids_out)

    if ours["docs"] != len(texts) or ours["bytes"] != total_bytes:
        print(f"\nthe two sides read different documents: ours {ours['docs']} docs / {ours['bytes']} bytes")
        sys.exit(1)
    differing = [i for i, (a, b) in enumerate(zip(our_ids, their_ids)) if a != b]
    if len(our_ids) != len(their_ids):
        differing.append(min(len(our_ids), len(their_ids)))
    for theirs_mb, ours_mb in results:
        print(
            f"\n{args.encoding}, {args.threads} thread(s): tiktoken {theirs_mb:.1f} MB/s, "
            f"corpus {ours_mb:.1f} MB/s ({ours['engine']}): {ours_mb / theirs_mb:.2f}x"
        )
    same = len(texts) - len(set(differing))
    print(f"ids identical on {same} of {len(texts)} documents ({sum(len(d) for d in their_ids)} tokens)")
    if differing:
        print(f"first differing documents (input order): {differing[:10]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
