"""Generation with transformers' ``generate`` (CPU or GPU): the small-scale and test backend."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

from cycle.core.chat import PromptLike
from cycle.core.generation.base import (
    GENERATION_STATS,
    Completion,
    FinishReason,
    Generator,
    encode_prompts,
    is_greedy,
    num_samples,
    replicate,
)
from cycle.core.schemas import SamplingConfig

log = logging.getLogger(__name__)

# Prompt lengths are rounded up to this with a static cache (fewer compiled shapes).
STATIC_PAD_MULTIPLE = 256


class HFGenerator(Generator):
    """Batched ``model.generate`` with left padding.

    ``batch_size`` counts prompts per ``generate`` call; each call holds ``batch_size * n``
    sequences. Prompts are sorted by length before batching (less padding) and returned in
    their original order.

    ``static_cache`` decodes with a static KV cache, which transformers' ``generate`` compiles
    with ``torch.compile(mode="reduce-overhead")`` on a GPU: each decode step replays one CUDA
    graph instead of launching every kernel (HF's eager decode is launch-bound for a small model:
    the step costs the same at batch 1 and 16). Prompts are left-padded to a multiple of
    ``STATIC_PAD_MULTIPLE`` tokens so that batches share a few compiled shapes. Without a GPU
    nothing is compiled and a static cache is slower than the dynamic one: leave it off on CPU.

    ``logits_processors`` are HF-style callables ``(input_ids, scores) -> scores`` (e.g.
    ``transformers.LogitsProcessor`` subclasses, such as the watermark). They run where
    ``generate(logits_processor=...)`` runs them: after the built-in processors (repetition
    penalty, min_new_tokens) and before temperature / top-k / top-p. Log-probs are taken after
    all of them, i.e. under the distribution each token was actually drawn from.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int = 8,
        logits_processors: Sequence[Any] = (),
        progress: bool = True,
        static_cache: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.logits_processors = list(logits_processors)
        self.progress = progress
        self.static_cache = static_cache
        eos = model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.eos_ids = set(eos) | ({tokenizer.eos_token_id} - {None})
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )

    def generate(
        self,
        prompts: Sequence[PromptLike],
        sampling: SamplingConfig,
        n: int | None = None,
    ) -> list[list[Completion]]:
        import torch

        n = num_samples(sampling, n)
        # Greedy decoding gives the same text n times: decode once, copy.
        per_prompt = 1 if is_greedy(sampling) else n
        encoded = encode_prompts(self.tokenizer, prompts)
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        results: list[list[Completion]] = [[] for _ in encoded]
        with _seeded(sampling.seed, self.model.device), torch.inference_mode():
            for batch in tqdm(batches, desc="generate", unit="batch", disable=not self.progress):
                rows = self._generate_or_fall_back(
                    [encoded[i] for i in batch], sampling, per_prompt
                )
                for j, index in enumerate(batch):
                    for completion in rows[j * per_prompt : (j + 1) * per_prompt]:
                        completion.prompt_index = index
                        results[index].append(completion)
        if per_prompt != n:
            results = replicate(results, n)
        return results

    def _generate_or_fall_back(
        self, input_ids: list[list[int]], sampling: SamplingConfig, per_prompt: int
    ) -> list[Completion]:
        """A batch whose compiled static-cache decoding fails (no C compiler for inductor, an op
        it cannot capture) is decoded again with the dynamic cache, and so is every later one:
        compiled decoding is a speed-up, never the reason a run fails."""
        if not self.static_cache:
            return self._generate_batch(input_ids, sampling, per_prompt)
        try:
            return self._generate_batch(input_ids, sampling, per_prompt)
        except Exception as err:  # noqa: BLE001 - any compile failure; the reason is logged
            log.warning(
                "static-cache decoding failed (%s: %s); decoding with the dynamic cache from here",
                type(err).__name__,
                str(err)[:300],
            )
            self.static_cache = False
            return self._generate_batch(input_ids, sampling, per_prompt)

    def _generate_batch(
        self, input_ids: list[list[int]], sampling: SamplingConfig, per_prompt: int
    ) -> list[Completion]:
        from transformers import CompileConfig, GenerationConfig, LogitsProcessorList

        stops = [s for s in sampling.stop if s]
        padded = self.tokenizer.pad(
            {"input_ids": input_ids},
            padding=True,
            padding_side="left",
            pad_to_multiple_of=STATIC_PAD_MULTIPLE if self.static_cache else None,
            return_tensors="pt",
        ).to(self.model.device)
        processors = LogitsProcessorList([*self.logits_processors, *_warpers(sampling)])
        recorder = _ChosenLogprobs() if sampling.logprobs else None
        if recorder is not None:
            processors.append(recorder)
        # When sampling, every warper knob is set to neutral explicitly so that a checkpoint's
        # generation_config.json (or transformers' own defaults, e.g. top_k=50) cannot change
        # what SamplingConfig says; temperature / top-k / top-p run as the warpers above, before
        # the log-prob recorder. Greedy decoding ignores them (and warns if they are set).
        neutral: dict[str, Any] = {}
        if not is_greedy(sampling):
            neutral = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "typical_p": 1.0}
            neutral |= {"epsilon_cutoff": 0.0, "eta_cutoff": 0.0}
        compiled: dict[str, Any] = {}
        if self.static_cache:
            compiled = {
                "cache_implementation": "static",
                # dynamic=None: a second shape recompiles once with dynamic dimensions, not per shape
                "compile_config": CompileConfig(mode="reduce-overhead", dynamic=None),
            }
        config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            min_new_tokens=sampling.min_new_tokens,
            do_sample=not is_greedy(sampling),
            num_return_sequences=per_prompt,
            **neutral,
            no_repeat_ngram_size=0,
            repetition_penalty=sampling.repetition_penalty,
            stop_strings=stops or None,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            **compiled,
        )
        start = time.perf_counter()
        out = self.model.generate(
            **padded,
            generation_config=config,
            logits_processor=processors,
            tokenizer=self.tokenizer if stops else None,
        )
        generated = out.sequences[:, padded["input_ids"].shape[1] :]
        logprobs = recorder.finish(out.sequences).tolist() if recorder is not None else None
        completions = [
            self._completion(row, logprobs[r] if logprobs is not None else None, sampling, stops)
            for r, row in enumerate(generated.tolist())
        ]
        GENERATION_STATS.update(
            calls=1,
            sequences=len(completions),
            new_tokens=sum(len(c.token_ids) for c in completions),
            decode_steps=generated.shape[1],
            at_length=sum(c.finish_reason == "length" for c in completions),
        )
        GENERATION_STATS["generate_s"] += time.perf_counter() - start
        return completions

    def _completion(
        self,
        ids: list[int],
        logprobs: list[float] | None,
        sampling: SamplingConfig,
        stops: list[str],
    ) -> Completion:
        finish: FinishReason | None = None
        eos_at = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
        if eos_at is not None:
            ids, finish = ids[: eos_at + 1], "stop"
        elif self.pad_id not in self.eos_ids:
            # A row that finished before the others (a stop string) is padded to the batch length.
            while ids and ids[-1] == self.pad_id:
                ids = ids[:-1]
        text = self._decode(ids)
        cut = _first_stop(text, stops)
        if cut is not None:
            ids = ids[: self._tokens_until_stop(ids, stops)]
            text, finish = text[:cut], "stop"
        if finish is None:
            finish = "length" if len(ids) >= sampling.max_new_tokens else "stop"
        return Completion(
            text=text,
            token_ids=ids,
            finish_reason=finish,
            logprobs=logprobs[: len(ids)] if logprobs is not None else None,
        )

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _tokens_until_stop(self, ids: list[int], stops: list[str]) -> int:
        """The fewest leading tokens whose text contains a stop string (binary search over prefixes)."""
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if _first_stop(self._decode(ids[:mid]), stops) is None:
                lo = mid + 1
            else:
                hi = mid
        return lo


def _first_stop(text: str, stops: list[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _warpers(sampling: SamplingConfig) -> list[Any]:
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    if is_greedy(sampling):
        return []
    warpers: list[Any] = []
    if sampling.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(float(sampling.temperature)))
    if sampling.top_k > 0:
        warpers.append(TopKLogitsWarper(top_k=int(sampling.top_k)))
    if sampling.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=float(sampling.top_p)))
    return warpers


class _ChosenLogprobs:
    """Log-probs of the chosen tokens, from the final processed scores.

    Keeps one step's log-softmax until the next call reveals which token was picked, so memory
    stays at one ``[rows, vocab]`` tensor instead of ``output_scores``' one per step.
    """

    def __init__(self) -> None:
        self.previous: Any = None
        self.steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.previous is not None:
            self._take(input_ids[:, -1:])
        self.previous = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def _take(self, chosen: Any) -> None:
        self.steps.append(self.previous.gather(1, chosen).squeeze(1))

    def finish(self, sequences: Any) -> Any:
        """``[rows, generated]`` log-probs; positions after a row finished are meaningless."""
        import torch

        self._take(sequences[:, -1:])
        return torch.stack(self.steps, dim=1).cpu()


@contextlib.contextmanager
def _seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed torch's global generators (the ones ``generate`` samples from) without leaking the seed."""
    import torch

    if seed is None:
        yield
        return
    devices = [device] if getattr(device, "type", str(device)) == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
