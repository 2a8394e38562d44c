"""Cross-checks a corpus work directory with the tools users read it with.

- every shard has llm.c's header (magic 20240520, version 1, token count) and file size 1024 + 2 * tokens,
  and numpy.memmap(path, dtype=uint16, offset=1024) reads it;
- the payload xxh3-64 matches the manifest;
- splitting each split's token stream at <|endoftext|> and decoding with OpenAI's tiktoken (r50k_base,
  rank file loaded offline) gives back the text of every document of that split, in the order and with the
  repeats the mix stage promises, recomputed here independently: a train document is drawn floor(e) times
  plus once more when its seeded xxh3 draw falls under the fraction of its source's epochs e
  (reports/mix.parquet), and every copy is placed by its seeded 128-bit xxh3 shuffle key;
- every Parquet file of the run is read by pyarrow.

Usage: check_outputs.py WORK R50K_RANK_FILE. Prints a JSON summary; exits non-zero on the first mismatch.
"""

import glob
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import pyarrow.parquet as pq
import xxhash

R50K_URL = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"


def load_r50k(rank_file):
    cache = tempfile.mkdtemp(prefix="tiktoken-cache-")
    shutil.copy(rank_file, os.path.join(cache, hashlib.sha1(R50K_URL.encode()).hexdigest()))
    os.environ["TIKTOKEN_CACHE_DIR"] = cache
    import tiktoken

    return tiktoken.get_encoding("r50k_base")


MASK = (1 << 64) - 1


def unit(h):
    return (h >> 11) / float(1 << 53)


def copies(seed, doc_id, epochs):
    whole = int(np.floor(epochs))
    draw = unit(xxhash.xxh3_64_intdigest(doc_id.encode(), seed ^ 0x6D69785F64726177))
    return whole + (1 if draw < epochs - whole else 0)


def shuffle_key(seed, doc_id, copy):
    salt = seed ^ ((copy * 0x9E3779B97F4A7C15) & MASK)
    data = doc_id.encode()
    return (
        xxhash.xxh3_64_intdigest(data, salt ^ 0x73687566666C6531),
        xxhash.xxh3_64_intdigest(data, salt ^ 0x73687566666C6532),
    )


def main():
    work, rank_file = sys.argv[1], sys.argv[2]
    enc = load_r50k(rank_file)
    parquet_files = sorted(glob.glob(os.path.join(work, "**", "*.parquet"), recursive=True))
    for path in parquet_files:
        pq.read_table(path)

    docs = []
    # The documents tokenize reads: decontaminate's output (C4 may have rewritten a text, decontamination cut it).
    for path in sorted(glob.glob(os.path.join(work, "decontaminate", "part-*.parquet"))):
        docs.extend(pq.read_table(path, columns=["id", "text"]).to_pylist())
    split_of = {}
    for path in sorted(glob.glob(os.path.join(work, "tokenize", "part-*.parquet"))):
        for row in pq.read_table(path, columns=["id", "split"]).to_pylist():
            split_of[row["id"]] = row["split"]

    with open(os.path.join(work, "run.json")) as f:
        seed = json.load(f)["config"]["run"]["seed"]
    epochs = {r["source"]: r["epochs"] for r in pq.read_table(os.path.join(work, "reports", "mix.parquet")).to_pylist()}
    source_of = {}
    for path in sorted(glob.glob(os.path.join(work, "tokenize", "part-*.parquet"))):
        for row in pq.read_table(path, columns=["id", "source"]).to_pylist():
            source_of[row["id"]] = row["source"]

    manifest = pq.read_table(os.path.join(work, "shards", "manifest.parquet")).to_pylist()
    summary = {"parquet_files": len(parquet_files), "splits": {}}
    for split in ("train", "val"):
        rows = sorted((m for m in manifest if m["split"] == split), key=lambda m: m["shard"])
        streams = []
        for m in rows:
            path = os.path.join(work, "shards", m["file"])
            header = np.fromfile(path, dtype=np.int32, count=256)
            assert header[0] == 20240520, f"{path}: magic {header[0]}"
            assert header[1] == 1, f"{path}: version {header[1]}"
            assert header[2] == m["tokens"], f"{path}: header says {header[2]}, manifest {m['tokens']}"
            assert not header[3:].any(), f"{path}: header words 3.. are not zero"
            assert os.path.getsize(path) == 1024 + 2 * int(header[2]), f"{path}: size"
            tokens = np.memmap(path, dtype=np.uint16, mode="r", offset=1024)
            assert len(tokens) == m["tokens"]
            assert xxhash.xxh3_64_intdigest(tokens.tobytes()) == m["payload_xxh3"], f"{path}: payload xxh3"
            streams.append(np.asarray(tokens))
        drawn = []
        for d in docs:
            if split_of.get(d["id"]) != split:
                continue
            n = copies(seed, d["id"], epochs[source_of[d["id"]]]) if split == "train" else 1
            drawn.extend((shuffle_key(seed, d["id"], c), d) for c in range(n))
        drawn.sort(key=lambda kd: kd[0])
        expected = [d for _, d in drawn]
        if not streams:
            assert not expected, f"{split}: {len(expected)} documents but no shard"
            continue
        stream = np.concatenate(streams)
        starts = np.flatnonzero(stream == enc.eot_token)
        assert len(starts) == len(expected), f"{split}: {len(starts)} separators, {len(expected)} documents"
        assert len(starts) == 0 or starts[0] == 0, f"{split}: stream does not start with <|endoftext|>"
        bounds = list(starts) + [len(stream)]
        for i, doc in enumerate(expected):
            text = enc.decode(stream[bounds[i] + 1 : bounds[i + 1]].tolist())
            assert text == doc["text"], f"{split}: copy {i} ({doc['id']}) is not the document the mix placed there"
        summary["splits"][split] = {
            "shards": len(rows),
            "tokens": int(len(stream)),
            "copies": len(expected),
            "documents": len({d["id"] for d in expected}),
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
