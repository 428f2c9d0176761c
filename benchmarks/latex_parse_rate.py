"""LaTeX parse time per MB, and what the per-record deadline worker costs.

    python benchmarks/latex_parse_rate.py                  # 0.25, 0.5 and 1 MB; ~1 minute
    python benchmarks/latex_parse_rate.py --sizes 0.5,2

A paper body (sections with inline and display math, citations, a table, a figure, an itemize)
is repeated up to each size and written as one ``main.tex``; each row times
``parse_document(expand_file(...))`` in this process (what ``load_arxiv_paper`` spends on the
LaTeX) and reports seconds per MB, the figure ``data.limits.parse_timeout_s`` is sized from.
The last row is the deadline worker's overhead: a small paper loaded with ``load_arxiv_paper``
in-process vs through ``DeadlineWorker`` (median of 20 calls after one warm-up call).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from cycle.data.arxiv import load_arxiv_paper
from cycle.data.deadline import DeadlineWorker
from cycle.data.latex_document import parse_document
from cycle.data.latex_source import expand_file

BLOCK = r"""
\section{Method %(i)d}
We propose a model $f_\theta(x) = \sum_{k=1}^{K} w_k \phi_k(x)$ trained with \emph{care}
\cite{key%(i)d,other}. As shown by \citet{third}, the loss
\begin{equation}
\mathcal{L}(\theta) = \frac{1}{N}\sum_{n=1}^{N} \left\| y_n - f_\theta(x_n) \right\|^2 + \lambda \|\theta\|_2
\end{equation}
is convex in $w$ (see Table~\ref{tab:%(i)d}).
\begin{itemize}
\item First point with \textbf{bold} text and 5\%% gain.
\item Second point: \url{https://example.org/%(i)d}.
\end{itemize}
\begin{table}[t]\centering\caption{Results %(i)d}\label{tab:%(i)d}
\begin{tabular}{lcc}\toprule Method & Acc & F1 \\ \midrule Ours & 91.2 & 88.0 \\ Base & 85.1 & 80.3 \\ \bottomrule\end{tabular}
\end{table}
\begin{figure}\includegraphics[width=\linewidth]{fig%(i)d.pdf}\caption{A figure.}\end{figure}
"""


def document(n_bytes: int) -> str:
    head = "\\documentclass{article}\n\\title{Bench}\n\\begin{document}\n\\begin{abstract}A.\\end{abstract}\n"
    parts, size, i = [head], len(head), 0
    while size < n_bytes:
        block = BLOCK % {"i": i}
        parts.append(block)
        size += len(block)
        i += 1
    parts.append("\\end{document}\n")
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0.25,0.5,1", help="MB, comma-separated")
    args = parser.parse_args()
    print("| LaTeX MB | sections | parse s | s per MB |\n|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for mb in (float(s) for s in args.sizes.split(",")):
            folder = Path(tmp, f"p{mb}")
            folder.mkdir()
            text = document(int(mb * (1 << 20)))
            (folder / "main.tex").write_text(text)
            start = time.perf_counter()
            doc = parse_document(expand_file(folder / "main.tex", folder)[0])
            took = time.perf_counter() - start
            size = len(text.encode()) / (1 << 20)
            print(f"| {size:.2f} | {len(doc.sections)} | {took:.1f} | {took / size:.1f} |")
        small = Path(tmp, "small")
        small.mkdir()
        (small / "main.tex").write_text(document(20_000))
        (small / "refs.bib").write_text("@article{other, title={T}, year=2020}\n")
        local = []
        for _ in range(21):
            start = time.perf_counter()
            load_arxiv_paper(small)
            local.append(time.perf_counter() - start)
        with DeadlineWorker(60) as worker:
            remote = []
            for _ in range(21):
                start = time.perf_counter()
                worker.call(load_arxiv_paper, small)
                remote.append(time.perf_counter() - start)
        a, b = statistics.median(local[1:]), statistics.median(remote[1:])
        print(
            f"\n20 KB paper: in-process {a * 1000:.0f} ms, through the deadline worker "
            f"{b * 1000:.0f} ms (+{(b - a) * 1000:.0f} ms per record)"
        )


if __name__ == "__main__":
    main()
