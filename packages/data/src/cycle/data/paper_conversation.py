"""The five-message paper-generation conversation of docs/formats.md §3 (Research-14K target).

system (instruction) -> user (bibliography with ``Abstract:`` lines) -> assistant (outline,
first LaTeX half, experimental setup JSON) -> user (experimental results JSON) -> assistant
(second LaTeX half). JSON is dumped with ``json.dumps`` so LaTeX backslashes are escaped and
decode back unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cycle.data.records import Paper, Reference

# The CycleResearcher instruction and user-turn ending (zhu-minjun/Researcher, generate_paper).
SYSTEM_PROMPT = (
    "You are a research assistant AI tasked with generating a scientific paper based on provided "
    "literature. Follow these steps:\n\n"
    "1. Analyze the given References. \n"
    "2. Identify gaps in existing research to establish the motivation for a new study.\n"
    "3. Propose a main idea for a new research work.\n"
    "4. Write the paper's main content in LaTeX format, including:\n"
    "   - Title\n   - Abstract\n   - Introduction\n   - Related Work\n   - Methods/\n"
    "5. Generate experimental setup details in JSON format to guide researchers.\n"
    "6. After receiving experimental results in JSON format, analyze them.\n"
    "7. Complete the paper by writing:\n"
    "   - Results\n   - Discussion\n   - Conclusion\n   - Contributions\n\n"
    "Ensure all content is original, academically rigorous, and follows standard scientific "
    "writing conventions."
)
USER_INSTRUCTION = (
    "The above content represents the relevant literature in this field. Please analyze it and "
    "provide the motivation and main idea. Then, provide the Title, Abstract, Introduction, "
    "Related Work, and Methods sections in LaTeX format."
)

# Headings that open the second half (results the model only sees after the experiment turn).
_SECOND_HALF = re.compile(
    r"experiment|evaluation|empirical|results|benchmark|analysis|ablation|discussion|conclusion",
    re.IGNORECASE,
)


@dataclass
class Outline:
    """The outline fields of a Research-14K row (its ``train_data``)."""

    motivation: str = ""
    main_idea: str = ""
    interestingness: int = 5
    feasibility: int = 5
    novelty: int = 5
    experimental_setup: list[dict[str, Any]] = field(default_factory=list)  # {name, description}
    experimental_results: list[dict[str, Any]] = field(default_factory=list)  # {name, result}

    def to_train_data(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_train_data(cls, text: str) -> Outline:
        """Read ``train_data`` as built here (bare JSON) or as released (a fenced ``json`` block,
        after a leading space)."""
        body, _ = fenced_block(text, "json")
        data = json.loads(text if body is None else body)
        return cls(**{k: data[k] for k in asdict(cls()) if k in data})


def fenced_block(text: str, lang: str) -> tuple[str | None, bool]:
    """Body of the first ```` ```lang ```` block and whether it was closed.

    The closing fence may follow the value on the same line (``...}]`` then the backticks), as
    in the released Research-14K turns; an unclosed block runs to the end of the text, as when
    generation hit its token limit. Linear time: two substring scans.
    """
    m = re.search(rf"```{lang}\b[ \t]*\n?", text)
    if m is None:
        return None, False
    end = text.find("```", m.end())
    body = text[m.end() : end] if end >= 0 else text[m.end() :]
    return body.strip("\n"), end >= 0


def split_halves(
    sections: Sequence[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """First half up to and including the method, second half from the experiments on.

    The cut is before the first section after the first one whose heading names experiments,
    evaluation, results, analysis, discussion or the conclusion; with no such heading the last
    section alone forms the second half.
    """
    sections = list(sections)
    cut = next((i for i, (h, _) in enumerate(sections) if i > 0 and _SECOND_HALF.search(h)), None)
    if cut is None:
        cut = max(len(sections) - 1, 1) if len(sections) > 1 else len(sections)
    return sections[:cut], sections[cut:]


def render_sections(sections: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(f"\\section{{{h}}}\n{body}".rstrip() for h, body in sections)


def _misc_entry(ref: Reference) -> str:
    """A BibTeX entry for a reference known only by its fields (no ``bibtex`` of its own)."""
    fields = [
        ("title", ref.title),
        ("author", " and ".join(ref.authors)),
        ("year", str(ref.year or "")),
        ("howpublished", ref.venue),
    ]
    body = "".join(f",\n  {name} = {{{value}}}" for name, value in fields if value)
    return f"@misc{{{ref.key}{body}\n}}" if body else f"@misc{{{ref.key}}}"


def render_bibliography(references: Sequence[Reference], topic: str | None = None) -> str:
    """The user turn: optional topic line, then each entry with its ``Abstract:`` line above it."""
    entries = [
        (f"Abstract: {ref.abstract}\n" if ref.abstract else "") + (ref.bibtex or _misc_entry(ref))
        for ref in references
    ]
    head = f"Generate a research paper on the topic: {topic}\n\n" if topic else ""
    body = "\n\n".join(entries)
    return f"{head}{body}\n\n{USER_INSTRUCTION}" if body else f"{head}{USER_INSTRUCTION}"


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```"


def paper_messages(
    paper: Paper, outline: Outline, topic: str | None = None
) -> list[dict[str, str]]:
    """The five messages for one paper (roles: system, user, assistant, user, assistant)."""
    first, second = split_halves(paper.sections)
    head = f"\\title{{{paper.title}}}\n\n\\begin{{abstract}}\n{paper.abstract}\n\\end{{abstract}}"
    first_latex = head + ("\n\n" + render_sections(first) if first else "")
    outline_turn = "\n\n".join(
        [
            f"## Motivation\n\n{outline.motivation}",
            f"## Main Idea\n\n{outline.main_idea}",
            f"## Interestingness\n\n{outline.interestingness}",
            f"## Feasibility\n\n{outline.feasibility}",
            f"## Novelty\n\n{outline.novelty}",
            f"```latex\n{first_latex}\n```",
            f"## Experimental Setup\n\n{_json_block(outline.experimental_setup)}",
        ]
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": render_bibliography(paper.references, topic)},
        {"role": "assistant", "content": outline_turn},
        {
            "role": "user",
            "content": f"## Experimental_results\n\n{_json_block(outline.experimental_results)}",
        },
        {"role": "assistant", "content": f"```latex\n{render_sections(second)}\n```"},
    ]
