"""``Researcher.write``: bibliography -> turn one -> experiments -> turn two -> ``GeneratedPaper``.

All prompts of a call go through the generator together, step by step (every paper's first
turn, then every paper's experiments, then every second turn), so a vLLM backend batches them.
With the ``simulated`` runner the policy continues the conversation into the results turn (as
the official sampler does by generating past its end-of-turn); the continuation is prefilled
with the results heading and the opening of its JSON block, and stops at the closing fence.
A first turn that does not parse to a title, an abstract and two sections can be sampled again
(``outline_attempts``); each paper records how many samples its first turn took.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from cycle.core.errors import ConfigError
from cycle.core.generation.base import Generator, encode_prompts
from cycle.core.runs import one_line_reason
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
        outline_attempts: int = 1,
    ) -> None:
        if outline_attempts < 1:
            raise ValueError(f"outline_attempts must be at least 1, got {outline_attempts}")
        self.generator = generator
        self.sampling = sampling
        self.runner = runner or SimulatedRunner()
        self.max_references = max_references
        self.outline_attempts = outline_attempts

    def check_prompts_fit(
        self, prompts: Sequence[tuple[Sequence[Reference], str | None]], context_length: int
    ) -> None:
        """Fail before generating when a first-turn prompt leaves less than ``max_new_tokens`` of
        the model's context: one line with the longest prompt and the ``max_references`` at which
        every prompt fits (``ConfigError``)."""
        room = context_length - self.sampling.max_new_tokens
        longest = self._longest_prompt(prompts, self.max_references)
        if longest <= room:
            return
        most = max((len(refs) for refs, _ in prompts), default=0)
        lo, hi = 0, most if self.max_references is None else min(most, self.max_references)
        if self._longest_prompt(prompts, 0) > room:
            fix = "use a model with a longer context (even with no references it does not fit)"
        else:  # the most references every prompt fits with: longest() grows with k
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self._longest_prompt(prompts, mid) <= room else (lo, mid - 1)
            fix = f"set max_references={lo} (the most that fit)"
        raise ConfigError(
            f"the longest prompt has {longest} tokens (max_references={self.max_references}), "
            f"over the model's context of {context_length} tokens less "
            f"sampling.max_new_tokens={self.sampling.max_new_tokens}: {fix}, or lower "
            "sampling.max_new_tokens"
        )

    def _longest_prompt(
        self, prompts: Sequence[tuple[Sequence[Reference], str | None]], k: int | None
    ) -> int:
        chats = [build_prompt(list(refs)[:k], topic) for refs, topic in prompts]
        return max((len(ids) for ids in encode_prompts(self.generator.tokenizer, chats)), default=0)

    def write(
        self, references: Sequence[Reference], n: int = 1, topic: str | None = None
    ) -> list[GeneratedPaper]:
        """``n`` papers from one bibliography."""
        return self.write_many([(references, topic)], n)[0]

    def write_many(
        self, prompts: Sequence[tuple[Sequence[Reference], str | None]], n: int = 1
    ) -> list[list[GeneratedPaper]]:
        """``n`` papers for each (references, topic) prompt, in prompt order.

        A paper's bibliography is the references its prompt showed (the first
        ``max_references``), so the Table 7 count credits no key the policy was not given.
        """
        shown = [list(refs)[: self.max_references] for refs, _ in prompts]
        chats = [build_prompt(refs, topic) for refs, (_, topic) in zip(shown, prompts, strict=True)]
        jobs = self._first_turns(chats, n)
        results, errors = self._experiments([chats[i] for i, *_ in jobs], [t for _, t, _ in jobs])
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
        for j, (i, outline_text, attempts) in enumerate(jobs):
            paper = parse_paper(
                outline_text, results[j] or "", second[j], shown[i], simulated=self.runner.simulated
            )
            paper.outline_attempts = attempts
            if errors[j]:
                paper.experiment_error = errors[j]
                paper.problems.insert(0, errors[j])
            papers[i].append(paper)
        return papers

    def _first_turns(self, chats: list[list[Message]], n: int) -> list[tuple[int, str, int]]:
        """Every paper's first turn as (prompt index, text, attempts), in prompt order.

        A first turn without a title, an abstract and two sections is sampled again, up to
        ``outline_attempts`` samples in all (the last one is kept either way). Attempt ``a``
        starts at ``seed + (a - 1) * len(jobs)``: backends that seed a call's k-th sample with
        ``seed + k`` (vLLM) would otherwise give a retry the seed, and so the text, of a sibling
        sample of the same prompt.
        """
        first = self.generator.generate(chats, self.sampling, n)
        jobs = [(i, c.text, 1) for i, group in enumerate(first) for c in group]
        retry = list(range(len(jobs)))
        for attempt in range(2, self.outline_attempts + 1):
            retry = [j for j in retry if not parse_outline_turn(jobs[j][1]).complete]
            if not retry:
                break
            seed = (
                None
                if self.sampling.seed is None
                else self.sampling.seed + (attempt - 1) * len(jobs)
            )
            sampling = dataclasses.replace(self.sampling, seed=seed)
            outs = self.generator.generate([chats[jobs[j][0]] for j in retry], sampling, 1)
            for j, group in zip(retry, outs, strict=True):
                jobs[j] = (jobs[j][0], group[0].text, attempt)
        return jobs

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
            try:  # one paper's program (or its output) never ends the others' run
                outcome = self.runner.run(setup)
                results.append(None if outcome.error else results_message(outcome.results))
                errors.append(outcome.error)
            except Exception as err:
                results.append(None)
                errors.append(f"experiment failed: {one_line_reason(err)}")
        return results, errors
