"""``Researcher.write``: bibliography -> turn one -> experiments -> turn two -> ``GeneratedPaper``.

All prompts of a call go through the generator together, step by step (every paper's first
turn, then every paper's experiments, then every second turn), so a vLLM backend batches them.
With the ``simulated`` runner the policy continues the conversation into the results turn (as
the official sampler does by generating past its end-of-turn); the continuation is prefilled
with the results heading and the opening of its JSON block, and stops at the closing fence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from cycle.core.generation.base import Generator
from cycle.core.schemas import SamplingConfig
from cycle.data.records import Reference
from cycle.researcher.experiments import ExperimentRunner, SimulatedRunner
from cycle.researcher.protocol import (
    RESULTS_HEADING,
    GeneratedPaper,
    Message,
    build_prompt,
    parse_outline_turn,
    parse_paper,
    results_message,
)

RESULTS_PREFILL = f"{RESULTS_HEADING}\n\n```json\n"
_SENTINEL = "\x00CYCLE-RESULTS\x00"


def user_turn_prefix(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The rendered conversation followed by the opening of a user turn (up to its content).

    Found by rendering a sentinel user message and cutting at it, so it works for any chat
    template. A leading BOS that the tokenizer would add again is removed.
    """
    text = tokenizer.apply_chat_template(
        [*messages, {"role": "user", "content": _SENTINEL}], tokenize=False
    )
    prefix = text[: text.index(_SENTINEL)]
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    if adds_bos and prefix.startswith(bos):
        prefix = prefix[len(bos) :]
    return prefix


class Researcher:
    """The CycleResearcher policy behind a core ``Generator``."""

    def __init__(
        self,
        generator: Generator,
        sampling: SamplingConfig,
        runner: ExperimentRunner | None = None,
        max_references: int | None = None,
    ) -> None:
        self.generator = generator
        self.sampling = sampling
        self.runner = runner or SimulatedRunner()
        self.max_references = max_references

    def write(
        self, references: Sequence[Reference], n: int = 1, topic: str | None = None
    ) -> list[GeneratedPaper]:
        """``n`` papers from one bibliography."""
        return self.write_many([(references, topic)], n)[0]

    def write_many(
        self, prompts: Sequence[tuple[Sequence[Reference], str | None]], n: int = 1
    ) -> list[list[GeneratedPaper]]:
        """``n`` papers for each (references, topic) prompt, in prompt order."""
        chats = [build_prompt(refs, topic, self.max_references) for refs, topic in prompts]
        first = self.generator.generate(chats, self.sampling, n)
        jobs = [(i, c.text) for i, group in enumerate(first) for c in group]
        results, errors = self._experiments([chats[i] for i, _ in jobs], [t for _, t in jobs])
        todo = [j for j, r in enumerate(results) if r is not None]
        conversations = [
            [
                *chats[jobs[j][0]],
                {"role": "assistant", "content": jobs[j][1]},
                {"role": "user", "content": results[j]},
            ]
            for j in todo
        ]
        second = [""] * len(jobs)
        if conversations:
            for j, group in zip(
                todo, self.generator.generate(conversations, self.sampling, 1), strict=True
            ):
                second[j] = group[0].text
        papers: list[list[GeneratedPaper]] = [[] for _ in prompts]
        for j, (i, outline_text) in enumerate(jobs):
            refs = list(prompts[i][0])
            paper = parse_paper(
                outline_text, results[j] or "", second[j], refs, simulated=self.runner.simulated
            )
            if errors[j]:
                paper.experiment_error = errors[j]
                paper.problems.insert(0, errors[j])
            papers[i].append(paper)
        return papers

    def _experiments(
        self, chats: list[list[Message]], outlines: list[str]
    ) -> tuple[list[str | None], list[str | None]]:
        """The results turn of each paper (None when its experiments failed) and the error."""
        if isinstance(self.runner, SimulatedRunner):
            tokenizer = self.generator.tokenizer
            prefixes = [
                user_turn_prefix(tokenizer, [*chat, {"role": "assistant", "content": text}])
                + RESULTS_PREFILL
                for chat, text in zip(chats, outlines, strict=True)
            ]
            sampling = dataclasses.replace(self.sampling, stop=[*self.sampling.stop, "```"])
            outs = self.generator.generate(prefixes, sampling, 1)
            texts = [RESULTS_PREFILL + group[0].text.rstrip() + "\n```" for group in outs]
            return list(texts), [None] * len(texts)
        results: list[str | None] = []
        errors: list[str | None] = []
        for text in outlines:
            setup = parse_outline_turn(text).experimental_setup
            if setup is None:
                results.append(None)
                errors.append("experiment not run: no valid experimental setup JSON")
                continue
            outcome = self.runner.run(setup)
            results.append(None if outcome.error else results_message(outcome.results))
            errors.append(outcome.error)
        return results, errors
