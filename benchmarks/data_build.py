"""Research-14K build throughput (papers per second) and peak memory, 200 vs 2,000 sources.

    python benchmarks/data_build.py                       # sizes 200 and 2000, prints a table
    python benchmarks/data_build.py --sizes 50,500 --keep /tmp/corpus

Sources are generated with ``cycle.data.sample_corpus``'s own functions (``build_spec``,
``render_paper``, ``write_arxiv_folder``), the same way it writes the bundled arXiv folders, but
with ids and dates of their own (the generator draws distinct days from three years, too few for
2,000 papers) and a fresh method-name pool per 40 papers (it runs out of unique names near
1,200). Like the bundled corpus, 2 sources in 42 are broken (one without ``\\documentclass``,
one with a malformed BibTeX entry), so the reject path is part of the timing.

Each size is built in a fresh child process that runs what ``cycle build_data`` runs for
Research-14K (``load_arxiv_paper`` per folder, heuristic outlines, ``build_research14k`` with the
JSONL spool, chronological split, ``save_to_disk`` + JSONL + parquet), with lengths counted in
words (no tokenizer). Papers per second = rows written / wall time of the build (imports
excluded); CPU seconds are the child's process time for it.

Memory, two numbers per child:

- peak RSS: the child's RSS high-water mark, ``ru_maxrss`` of the rusage ``os.wait4`` returns for
  that one child (``RUSAGE_CHILDREN`` would carry one size's peak into the next). It counts the
  pages of the memory-mapped Arrow files that were read, so it includes up to the size of the
  written dataset in file-backed (reclaimable page-cache) memory;
- peak anonymous RSS: the heap and other private memory, ``RssAnon`` of ``/proc/self/status``
  sampled every 10 ms by a thread of the child (Linux only), the part that would exhaust RAM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BLOCK = 42  # sources per block: 40 good + 2 broken, as in the bundled corpus


def _id_and_date(i: int, n: int) -> tuple[str, str]:
    """Dates spread evenly over 2022-01-01 .. 2024-12-28 (28-day months keep it simple)."""
    step = (3 * 12 * 28) * i // max(n, 1)
    year, rest = 2022 + step // (12 * 28), step % (12 * 28)
    month, day = 1 + rest // 28, 1 + rest % 28
    return f"{year % 100:02d}{month:02d}.{i:05d}", f"{year}-{month:02d}-{day:02d}"


def generate_sources(out: Path, n: int, seed: int = 2024) -> None:
    """``n`` arXiv-style source folders under ``out`` (deterministic for a given seed)."""
    from cycle.data.sample_corpus.arxiv_folders import write_arxiv_folder
    from cycle.data.sample_corpus.knobs import accepted_knobs
    from cycle.data.sample_corpus.paper import render_paper
    from cycle.data.sample_corpus.people import AFFILIATIONS, draw_author
    from cycle.data.sample_corpus.spec import build_spec

    taken: set[str] = set()
    for i in range(n):
        if i % BLOCK == 0:
            taken = set()
        rng = random.Random(f"bench-{seed}-{i}")
        arxiv_id, date = _id_and_date(i, n)
        broken = {BLOCK // 3: "no_documentclass", 2 * BLOCK // 3: "bad_bib"}.get(i % BLOCK)
        knobs = accepted_knobs(rng)
        spec = build_spec(rng, arxiv_id, knobs, taken, max_year=int(date[:4]))
        text = render_paper(rng, spec, anonymous=False)
        if broken == "bad_bib":
            name, intro = text.parts[0]
            text.parts[0] = (name, intro.replace(".\n\n", "~\\cite{broken2021entry}.\n\n", 1))
        authors = [(draw_author(rng), rng.choice(AFFILIATIONS)) for _ in range(3)]
        meta = {
            "arxiv": arxiv_id,
            "title": text.title,
            "authors": [a.name for a, _ in authors],
            "date": date,
            "venue": f"ICLR {date[:4]}",
            "decision": "Accept (poster)",
            "synthetic": True,
            "_authors": authors,
        }
        write_arxiv_folder(out / arxiv_id, rng, spec, text, meta, broken)


def _rss_mb(maxrss: int) -> float:
    """``ru_maxrss`` is in KiB on Linux, in bytes on macOS."""
    return maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


class _AnonPeak:
    """Highest ``RssAnon`` of this process, sampled by a daemon thread (None off Linux)."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.peak_kb: int | None = None
        self._done = threading.Event()
        if Path("/proc/self/status").exists():
            self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
            self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._done.wait(interval_s):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak_kb = max(self.peak_kb or 0, int(line.split()[1]))

    def stop(self) -> float | None:
        self._done.set()
        return None if self.peak_kb is None else self.peak_kb / 1024


def child(arxiv_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Build Research-14K rows from ``arxiv_dir`` (runs in the measured child process)."""
    import datasets

    from cycle.data.arxiv import iter_source_folders, load_arxiv_paper
    from cycle.data.outline import HeuristicOutline
    from cycle.data.research14k import build_research14k
    from cycle.data.writer import RejectLog, make_token_counter

    datasets.disable_progress_bars()
    logging.disable(logging.WARNING)  # bibtexparser logs each broken entry; rejects count them
    rss_start = _rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    peak_anon = _AnonPeak()
    cpu0, t0 = time.process_time(), time.perf_counter()
    rejects = RejectLog(out_dir / "rejected.jsonl")
    summary = build_research14k(
        (load_arxiv_paper(f) for f in iter_source_folders(arxiv_dir)),
        out_dir / "research14k",
        rejects,
        HeuristicOutline(),
        count_tokens=make_token_counter(None),
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "rows": summary["papers"],
        "rejected": sum(rejects.dropped.values()),
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_after_imports_mb": rss_start,
        "peak_anon_mb": peak_anon.stop(),
    }


def measure(arxiv_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Run ``child`` in a fresh interpreter; its own rusage gives the peak RSS."""
    result = out_dir / "result.json"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(arxiv_dir), str(out_dir), str(result)],
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_DATASETS_OFFLINE": "1"},
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed with exit code {proc.returncode}")
    return {**json.loads(result.read_text()), "peak_rss_mb": _rss_mb(usage.ru_maxrss)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,2000", help="comma-separated source counts")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        arxiv_dir, out_dir, result = map(Path, args.child)
        out_dir.mkdir(parents=True, exist_ok=True)
        result.write_text(json.dumps(child(arxiv_dir, out_dir)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="cycle-bench-") as tmp:
        work = args.keep or Path(tmp)
        rows = []
        for n in sizes:
            src = work / f"sources-{n}"
            if not src.is_dir():
                t0 = time.perf_counter()
                generate_sources(src, n)
                print(f"generated {n} sources in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            r = measure(src, work / f"build-{n}")
            rows.append((n, r))
            print(f"{n}: {r}", file=sys.stderr)
    print("| sources | rows | rejected | build wall s | build CPU s | papers/s (wall) "
          "| papers/s (CPU) | RSS after imports MB | peak RSS MB | peak anon RSS MB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in rows:
        anon = "n/a" if r["peak_anon_mb"] is None else f"{r['peak_anon_mb']:.0f}"
        print(
            f"| {n} | {r['rows']} | {r['rejected']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} "
            f"| {r['rows'] / r['wall_s']:.2f} | {r['rows'] / r['cpu_s']:.2f} "
            f"| {r['rss_after_imports_mb']:.0f} | {r['peak_rss_mb']:.0f} | {anon} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
