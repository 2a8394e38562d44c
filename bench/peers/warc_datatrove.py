"""Peer measurement for BENCHMARKS.md: datatrove's WarcReader + Trafilatura extractor on one WARC file, one core.

Usage: warc_datatrove.py FILE.warc.gz [REPEAT]. Prints one JSON line shaped like `corpus bench read`.
Run with the peers' virtual environment, which bench/peers/setup.sh creates:
  .peers/bin/python bench/peers/warc_datatrove.py .peers/inputs/warc-mix-x40.warc.gz
"""

import json
import os
import sys
import time

from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.readers import WarcReader


def main():
    path = os.path.abspath(sys.argv[1])
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    folder, name = os.path.split(path)
    docs = 0
    text_bytes = 0
    started = time.perf_counter()
    for _ in range(repeat):
        reader = WarcReader(folder, glob_pattern=name)
        extractor = Trafilatura(favour_precision=True)
        for doc in extractor.run(reader.run()):
            docs += 1
            text_bytes += len(doc.text.encode("utf-8"))
    seconds = time.perf_counter() - started
    size = os.path.getsize(path) * repeat
    print(json.dumps({
        "tool": "datatrove WarcReader + Trafilatura",
        "input": path,
        "threads": 1,
        "seconds": seconds,
        "input_MB_per_s": size / 1e6 / seconds,
        "text_MB_per_s": text_bytes / 1e6 / seconds,
        "docs_per_s": docs / seconds,
        "documents": docs,
    }))


if __name__ == "__main__":
    main()
