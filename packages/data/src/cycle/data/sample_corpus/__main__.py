"""Write the bundled SYNTHETIC sample corpus of cycle-data (``python -m cycle.data.sample_corpus``)."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cycle.data.sample_corpus.corpus import DEFAULT_OUT, SEED, generate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: the bundled sample)"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    record = generate(args.out, args.seed)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    decisions = Counter(v["decision"] for v in record["openreview"].values())
    print(
        f"wrote {len(record['arxiv'])} arXiv folders and {len(record['openreview'])} forums ({size / 1e6:.2f} MB) to {args.out}"
    )
    print("decisions:", dict(sorted(decisions.items(), key=lambda kv: str(kv[0]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
