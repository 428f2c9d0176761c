"""BibTeX parsing (macros, accents, broken entries) and abstract attachment (cache, Semantic Scholar)."""

from __future__ import annotations

import pytest

from cycle.data.abstracts import attach_abstracts, load_abstract_cache, normalize_title
from cycle.data.bibtex import parse_bibtex, read_bib_files
from cycle.data.records import Reference
from cycle.data.semantic_scholar import RateLimited, SemanticScholar

BIB = r"""@string{iclr = "International Conference on Learning Representations"}
@inproceedings{muller2020,
  title = {{\"U}ber {BERT} in caf\'e},
  author = {M{\"u}ller, Hans and Jos\'e Garc{\'\i}a},
  booktitle = iclr,
  year = {2020},
  abstract = {We reach 50\% accuracy.}
}
@article{broken2021,
  title = {Unbalanced {brace,
  year = 2021
}
@misc{arx2019,
  title = "Plain Title",
  journal = {arXiv preprint arXiv:1901.00002},
  year = 2019
}
"""


def test_macros_accents_and_broken_entry():
    result = parse_bibtex(BIB, source="refs.bib")
    assert [r.key for r in result.references] == ["muller2020", "arx2019"]
    ref = result.references[0]
    assert ref.title == "Über BERT in café"
    assert ref.authors == ["Müller, Hans", "José García"]
    assert ref.venue == "International Conference on Learning Representations"
    assert ref.abstract == "We reach 50% accuracy." and ref.year == 2020
    # The prompt's entry: macro resolved, abstract left out, LaTeX kept.
    assert "booktitle = {International Conference" in ref.bibtex and "abstract" not in ref.bibtex
    assert ref.bibtex.startswith("@inproceedings{muller2020,")
    assert result.references[1].arxiv == "1901.00002"
    [problem] = result.problems
    assert (
        problem.kind == "bib_entry"
        and problem.record == "broken2021"
        and problem.source == "refs.bib"
    )
    assert "malformed" in problem.reason


def test_duplicate_keys_across_files(tmp_path):
    a, b = tmp_path / "a.bib", tmp_path / "b.bib"
    a.write_text("@misc{k, title={First}}\n")
    b.write_text("@misc{k, title={Second}}\n@misc{j, title={J}}\n")
    result = read_bib_files([a, b])
    assert [(r.key, r.title) for r in result.references] == [("k", "First"), ("j", "J")]
    assert result.problems[0].reason == "duplicate BibTeX key"


class FakeS2:
    """Records calls; answers from a table (None for unknown ids)."""

    def __init__(self, table, fail_first=0):
        self.table, self.calls, self.fail_first = table, [], fail_first

    def __call__(self, url, params, headers, body):
        self.calls.append((url, params, headers, list(body["ids"])))
        if self.fail_first:
            self.fail_first -= 1
            raise RateLimited("429")
        return [self.table.get(i) for i in body["ids"]]


def test_attach_abstracts_from_bib_cache_and_semantic_scholar(tmp_path):
    refs = [
        Reference("a", title="Has Abstract", abstract="own"),
        Reference("b", title="Cached Title!"),
        Reference("c", title="On S2", arxiv="2101.00001"),
        Reference("d", title="Unknown", doi="10.1/x"),
        Reference("e", title="Title only"),
    ]
    cache_file = tmp_path / "abstracts.json"
    cache_file.write_text('{"title:cachedtitle": "from cache", "doi:10.9/other": ""}')
    cache = load_abstract_cache(cache_file)
    fake = FakeS2({"ARXIV:2101.00001": {"paperId": "s2c", "abstract": "from  s2"}}, fail_first=1)
    sleeps = []
    s2 = SemanticScholar(
        tmp_path / "s2", api_key="KEY", batch_size=1, http_post=fake, sleep=sleeps.append
    )
    counts = attach_abstracts(refs, cache, s2)
    assert [r.abstract for r in refs] == ["own", "from cache", "from s2", "", ""]
    assert refs[2].paper_id == "s2c"
    assert counts == {"bib": 1, "cache": 1, "semantic_scholar": 1, "missing": 2}
    # Two ids in batches of one, plus one retry after the 429; the key goes in the header.
    assert [c[3] for c in fake.calls] == [
        ["ARXIV:2101.00001"],
        ["ARXIV:2101.00001"],
        ["DOI:10.1/x"],
    ]
    assert fake.calls[0][1] == {"fields": "paperId,title,abstract"} and fake.calls[0][2] == {
        "x-api-key": "KEY"
    }
    assert 1.0 in sleeps  # the backoff after the 429
    s2.close()
    # The on-disk cache answers a second client without any request, misses included.
    again = FakeS2({})
    s2b = SemanticScholar(tmp_path / "s2", http_post=again, min_interval_s=0)
    assert s2b.papers(["ARXIV:2101.00001", "DOI:10.1/x"]) == {
        "ARXIV:2101.00001": {"paperId": "s2c", "abstract": "from  s2"},
        "DOI:10.1/x": None,
    }
    assert again.calls == []


def test_semantic_scholar_rejects_bad_batch_size(tmp_path):
    with pytest.raises(ValueError):
        SemanticScholar(tmp_path, batch_size=501)
    assert normalize_title("Über-Net: A {Test}") == "bernetatest"


def test_semantic_scholar_behind_a_broken_proxy_degrades_like_offline(tmp_path, monkeypatch):
    """A proxy that answers garbage (http.client.BadStatusLine, not an OSError): lookups stop,
    the ids count as failed and the error is kept for the summary; nothing raises."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer_garbage() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(b"garbage from a broken proxy\r\n\r\n")
            conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/graph/v1/paper/batch"
    monkeypatch.setattr("cycle.data.semantic_scholar.BATCH_URL", url)
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    s2 = SemanticScholar(tmp_path / "s2", batch_size=1, min_interval_s=0)
    refs = [Reference("a", title="A", arxiv="2101.00001"), Reference("b", title="B", doi="10.1/x")]
    counts = attach_abstracts(refs, {}, s2)
    assert counts["missing"] == 2 and s2.requests == 1
    stats = s2.stats()
    assert stats["failed_lookups"] == 2 and "BadStatusLine" in stats["error"]
    server.close()
