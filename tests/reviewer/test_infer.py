"""Reviewer inference: prompts, paper truncation, rewards from fixed generator outputs."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from cycle.core.chat import render_prompt, tokenize_chat
from cycle.core.generation.base import Completion, Generator
from cycle.core.schemas import SamplingConfig
from cycle.data.records import Paper, Review
from cycle.data.review5k import reviewer_messages
from cycle.data.review_text import ReviewSet, render_review_text
from cycle.reviewer.infer import Reviewer, fit_paper
from cycle.reviewer.schemas import ReviewerConfig


def review_text(ratings: Sequence[float], decision: str = "Accept (poster)") -> str:
    reviews = [
        Review(
            summary="s",
            strengths="a",
            weaknesses="b",
            questions="q",
            soundness=3,
            presentation=3,
            contribution=2,
            rating=r,
            confidence=4,
        )
        for r in sorted(ratings)
    ]
    return render_review_text(ReviewSet(reviews, "meta", decision))


class FixedGenerator(Generator):
    """Returns ``texts[paper][sample]`` and records the prompts it was given."""

    def __init__(self, texts: Sequence[Sequence[str]], tokenizer: object = None) -> None:
        self.texts = texts
        self.tokenizer = tokenizer
        self.prompts: list = []
        self.n: int | None = None

    def generate(self, prompts, sampling, n=None):
        self.prompts.extend(prompts)
        self.n = n
        return [
            [Completion(t, [], "stop", prompt_index=i) for t in self.texts[i][: n or 1]]
            for i in range(len(prompts))
        ]


def test_rewards_unparseable_is_missing_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    gen = FixedGenerator(
        [[review_text([3, 6, 8])], ["I liked this paper a lot."], [review_text([10, 5], "Reject")]]
    )
    reviewer = Reviewer(gen, SamplingConfig(), ReviewerConfig())
    with caplog.at_level(logging.WARNING):
        results = reviewer.review(["paper one", "paper two", Paper("p3", title="T", abstract="A")])
    assert [r.reward for r in results] == [pytest.approx(17 / 3), None, 7.5]  # never 0 for a miss
    assert results[0].decision == "Accept" and results[2].decision == "Reject"
    assert results[2].max_rating == 10 and results[2].min_rating == 5
    assert results[1].n_unparseable == 1 and results[1].decision is None
    assert reviewer.counts.outputs == 3 and reviewer.counts.unparseable == 1
    assert reviewer.counts.missing_rewards == 1 and reviewer.counts.parse_rate == pytest.approx(
        2 / 3
    )
    assert "1 of 3 review outputs had no readable rating" in caplog.text
    assert results[0].review_sets[0].ratings == [3, 6, 8]


def test_k_samples_are_averaged_over_parseable_ones() -> None:
    gen = FixedGenerator(
        [
            [review_text([3, 5]), review_text([6, 8]), "garbage"],  # means 4, 7 -> 5.5
            [review_text([6], "Reject"), review_text([8]), review_text([5], "Reject")],
        ]
    )
    reviewer = Reviewer(gen, SamplingConfig(), ReviewerConfig(k=3))
    results = reviewer.review(["a", "b"])
    assert gen.n == 3
    assert results[0].reward == pytest.approx(5.5)
    assert results[0].n_unparseable == 1
    assert results[0].min_rating == pytest.approx(4.5) and results[0].max_rating == pytest.approx(
        6.5
    )
    assert results[1].reward == pytest.approx(19 / 3)
    assert results[1].decision == "Reject"  # majority of 2 rejects vs 1 accept
    assert reviewer.counts.outputs == 6 and reviewer.counts.unparseable == 1


@pytest.mark.parametrize(("reward", "expected"), [("min", 3.0), ("max", 8.0), ("mean", 17 / 3)])
def test_reward_kind(reward: str, expected: float) -> None:
    reviewer = Reviewer(
        FixedGenerator([[review_text([3, 6, 8])]]), SamplingConfig(), ReviewerConfig(reward=reward)
    )
    assert reviewer.rewards(["p"]) == [pytest.approx(expected)]


def test_bad_reward_kind_fails_early() -> None:
    with pytest.raises(ValueError, match="unknown reward"):
        Reviewer(FixedGenerator([]), SamplingConfig(), ReviewerConfig(reward="median"))


def test_inference_prompt_equals_training_prompt() -> None:
    """The prompt given to the generator is the SFT view's conversation without its answer."""
    row = {
        "paper_text": "\\title{X}\n\nBody.",
        "paper": Paper("p", title="X").to_row(),
        "reviews": [Review(rating=r).to_row() for r in (3, 5, 6)],
        "meta_review": "m",
        "decision": "Reject",
    }
    gen = FixedGenerator([["x"]])
    Reviewer(gen, SamplingConfig(), ReviewerConfig(num_reviews=3)).review([row["paper_text"]])
    assert gen.prompts[0] == reviewer_messages(row)[:-1]


def _long_paper(n_words: int) -> str:
    return " ".join(f"w{i}" for i in range(n_words)) + " THE-END"


@pytest.mark.parametrize("mode", ["end", "middle"])
def test_fit_paper_prompt_budget(tiny_lm, mode: str) -> None:
    _, tok = tiny_lm
    paper = _long_paper(2000)
    fitted = fit_paper(
        tok,
        [{"role": "system", "content": "Review."}, {"role": "user", "content": paper}],
        300,
        mode,
    )
    assert fitted is not None
    chat, dropped = fitted
    n = len(tok(render_prompt(tok, chat), add_special_tokens=False)["input_ids"])
    assert 280 <= n <= 300 and dropped > 0
    assert chat[0]["content"] == "Review."
    text = chat[1]["content"]
    assert text.startswith("w0 w1 w2")
    assert text.endswith("THE-END") == (mode == "middle")


def test_a_very_long_paper_is_precut_to_the_same_text(tiny_lm, monkeypatch) -> None:
    """A paper 100x the budget: cutting characters first gives the text the exact cut gives on
    the whole paper, and about the same count of dropped tokens."""
    from cycle.reviewer import infer

    _, tok = tiny_lm
    messages = [
        {"role": "system", "content": "Review."},
        {"role": "user", "content": _long_paper(30000)},
    ]
    assert len(_long_paper(30000)) > 300 * infer.PRECUT_CHARS_PER_TOKEN
    chat, dropped = fit_paper(tok, messages, 300, "end")
    monkeypatch.setattr(infer, "PRECUT_CHARS_PER_TOKEN", 10**9)  # no pre-cut
    whole_chat, whole_dropped = fit_paper(tok, messages, 300, "end")
    assert chat == whole_chat
    assert abs(dropped - whole_dropped) <= 2


def test_fit_paper_keeps_training_target_whole(tiny_lm) -> None:
    _, tok = tiny_lm
    target = review_text([3, 6])
    messages = [
        {"role": "user", "content": _long_paper(3000)},
        {"role": "assistant", "content": target},
    ]
    chat, _ = fit_paper(tok, messages, 900, "end")
    ids, mask = tokenize_chat(tok, chat)
    assert len(ids) <= 900 and chat[-1]["content"] == target
    assert tok.decode([t for t, m in zip(ids, mask, strict=True) if m]).startswith(target)
    # No room for the paper: rejected, not silently trained on a review alone.
    assert (
        fit_paper(
            tok,
            messages,
            len(tokenize_chat(tok, [messages[-1]])[0]) + 20,
            "end",
            min_paper_tokens=64,
        )
        is None
    )


def test_reviewer_cuts_papers_to_context(tiny_lm) -> None:
    _, tok = tiny_lm
    gen = FixedGenerator([[review_text([5])]], tokenizer=tok)
    reviewer = Reviewer(
        gen, SamplingConfig(max_new_tokens=200), ReviewerConfig(), context_length=600
    )
    result = reviewer.review([_long_paper(3000)])[0]
    assert (
        len(tok(render_prompt(tok, gen.prompts[0]), add_special_tokens=False)["input_ids"]) <= 400
    )
    assert result.paper_tokens_dropped > 0 and reviewer.counts.truncated_papers == 1


def test_truncated_outputs_give_no_reward_from_their_last_rating() -> None:
    class Cut(FixedGenerator):
        def generate(self, prompts, sampling, n=None):
            return [[Completion("## Summary\n\nOk.\n\n## Rating\n\n1", [], "length")]]

    reviewer = Reviewer(Cut([[""]]), SamplingConfig(), ReviewerConfig())
    (result,) = reviewer.review(["A paper."])
    assert result.reward is None and result.n_truncated == 1 and result.n_unparseable == 1
    assert reviewer.counts.truncated_outputs == 1
