#!/usr/bin/env python3
"""Writes the benchmark corpus: real web text and book chapters from the bundled samples, each once, then seeded
near-duplicates of them until the file holds the size asked for (a size below that of the originals gives a
seeded sample of them only).

The originals are every non-blank document of DATA/webtext (JSONL, optionally .gz or .zst: Dolma, CCNet, C4,
OpenWebText2) and the chapters of the Project Gutenberg books in DATA/books (licence header and footer cut
off; books without chapter headings are cut at paragraph ends into pieces of about 16 KB). Every later
record copies an original chosen at random: one in ten unchanged (an exact duplicate), the others with 1%,
2% or 5% of their words deleted, replaced by another word of the same text or swapped with their neighbour
(a near duplicate). So the file has the length and the languages of real documents, and a known share of
duplicates for the dedup stage to find.

Records are JSON lines {"id", "source", "text", "duplicate_of", "edit_rate"}: `source` is "web" or "books",
`duplicate_of` the id of the original a copy was made from (null for an original), `edit_rate` the fraction
of its words edited (0 for originals and exact copies). The same arguments give the same bytes. When OUT
already exists and the sidecar OUT.json records the same arguments, nothing is rewritten.

    python3 bench/make_corpus.py --out .peers/inputs/corpus-32mb.jsonl --mb 32 [--seed 0] [--data tests/data]
"""

import argparse
import glob
import gzip
import io
import json
import os
import random
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXACT_SHARE = 0.1
EDIT_RATES = (0.01, 0.02, 0.05)
BOOK_PIECE_CHARS = 16_000
# A chapter heading as the three bundled books write them ("Chapter 1", "CHAPTER 12. The Chapel.").
CHAPTER_HEADING = re.compile(r"^(Chapter|CHAPTER) [0-9IVXLC]+\b")


def open_jsonl(path):
    """A text stream over a JSONL file, plain, gzip or zstd (the zstandard module or the zstd tool)."""
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    if path.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            data = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
            return io.StringIO(data.decode("utf-8"))
        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8")
    return open(path, encoding="utf-8")


def web_documents(folder):
    """(id, text) of every non-blank `text` field in the folder's JSONL files, in file-name order."""
    paths = sorted(p for p in glob.glob(os.path.join(folder, "*")) if re.search(r"\.jsonl?(\.gz|\.zst)?$", p))
    if not paths:
        sys.exit(f"make_corpus: no .json/.jsonl(.gz/.zst) file in {folder}")
    docs = []
    for path in paths:
        name = os.path.basename(path).split(".")[0]
        with open_jsonl(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                text = json.loads(line).get("text")
                if isinstance(text, str) and text.strip():
                    docs.append((f"web/{name}/{number}", text))
    return docs


def strip_gutenberg(text):
    """The book between Project Gutenberg's `*** START OF` and `*** END OF` lines (all of it without them)."""
    start = re.search(r"^\*\*\* ?START OF.*$", text, re.MULTILINE)
    end = re.search(r"^\*\*\* ?END OF.*$", text, re.MULTILINE)
    return text[start.end() if start else 0 : end.start() if end else len(text)]


def book_pieces(text):
    """The book's chapters; a chapter longer than BOOK_PIECE_CHARS, or a book without headings, is cut at
    paragraph ends. Headings in a table of contents start no piece: a piece needs some text first."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    pieces, current, size = [], [], 0
    for paragraph in paragraphs:
        heading = CHAPTER_HEADING.match(paragraph) is not None
        if current and ((heading and size >= 2_000) or size >= BOOK_PIECE_CHARS):
            pieces.append("\n\n".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += len(paragraph) + 2
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def book_documents(folder):
    paths = sorted(glob.glob(os.path.join(folder, "*.txt")))
    if not paths:
        sys.exit(f"make_corpus: no .txt book in {folder}")
    docs = []
    for path in paths:
        name = os.path.basename(path).rsplit(".", 1)[0]
        with open(path, encoding="utf-8-sig") as f:
            for number, piece in enumerate(book_pieces(strip_gutenberg(f.read())), 1):
                docs.append((f"books/{name}/{number}", piece))
    return docs


def edit_words(text, rate, rng):
    """`text` with `rate` of its words (at least one) deleted, replaced or swapped with the next word."""
    words = text.split(" ")
    for _ in range(max(1, round(len(words) * rate))):
        if len(words) < 2:
            break
        at = rng.randrange(len(words) - 1)
        action = rng.randrange(3)
        if action == 0:
            del words[at]
        elif action == 1:
            words[at] = words[rng.randrange(len(words))]
        else:
            words[at], words[at + 1] = words[at + 1], words[at]
    return " ".join(words)


def write_corpus(out, originals, target_bytes, seed):
    """Writes the originals, then copies until `target_bytes`; returns the counts."""
    rng = random.Random(seed)
    # Copies come from documents long enough for an edit rate to mean something.
    bases = [d for d in originals if len(d[1].split()) >= 50] or originals
    counts = {"documents": 0, "originals": 0, "exact_copies": 0, "near_copies": 0, "bytes": 0,
              "web": 0, "books": 0}
    partial = out + ".partial"
    with open(partial, "w", encoding="utf-8") as f:

        def write(doc_id, source, text, duplicate_of, rate):
            line = json.dumps({"id": doc_id, "source": source, "text": text, "duplicate_of": duplicate_of,
                               "edit_rate": rate}, ensure_ascii=False) + "\n"
            f.write(line)
            counts["bytes"] += len(line.encode("utf-8"))
            counts["documents"] += 1
            counts[source] += 1

        # The originals in a seeded order, so that a file smaller than all of them still mixes web and books.
        for doc_id, text in rng.sample(originals, len(originals)):
            if counts["bytes"] >= target_bytes:
                break
            write(doc_id, doc_id.split("/")[0], text, None, 0.0)
            counts["originals"] += 1
        while counts["bytes"] < target_bytes:
            base_id, text = rng.choice(bases)
            number = counts["documents"]
            if rng.random() < EXACT_SHARE:
                write(f"copy/{number}", base_id.split("/")[0], text, base_id, 0.0)
                counts["exact_copies"] += 1
            else:
                rate = rng.choice(EDIT_RATES)
                write(f"copy/{number}", base_id.split("/")[0], edit_words(text, rate, rng), base_id, rate)
                counts["near_copies"] += 1
    os.replace(partial, out)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the JSONL file to write")
    parser.add_argument("--mb", type=float, required=True, help="size of the file in MB (10^6 bytes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=os.path.join(REPO, "tests", "data"),
                        help="folder with webtext/ and books/ (default: the repository's tests/data)")
    args = parser.parse_args()
    if args.mb <= 0:
        sys.exit("make_corpus: --mb must be above 0")

    data = os.path.abspath(args.data)
    settings = {"mb": args.mb, "seed": args.seed, "data": data, "exact_share": EXACT_SHARE,
                "edit_rates": list(EDIT_RATES), "version": 2}
    sidecar = args.out + ".json"
    if os.path.exists(args.out) and os.path.exists(sidecar):
        with open(sidecar, encoding="utf-8") as f:
            previous = json.load(f)
        if previous.get("settings") == settings:
            print(f"make_corpus: {args.out} is up to date ({previous['counts']['documents']} documents, "
                  f"{previous['counts']['bytes'] / 1e6:.2f} MB)")
            return

    originals = web_documents(os.path.join(data, "webtext")) + book_documents(os.path.join(data, "books"))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    counts = write_corpus(args.out, originals, int(args.mb * 1e6), args.seed)
    with open(sidecar, "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "counts": counts}, f, indent=1)
    print(f"make_corpus: wrote {args.out}: {counts['documents']} documents, {counts['bytes'] / 1e6:.2f} MB "
          f"({counts['web']} web, {counts['books']} book pieces): {counts['originals']} originals from {data}, "
          f"{counts['exact_copies']} exact and {counts['near_copies']} near copies (seed {args.seed})")


if __name__ == "__main__":
    main()
