"""Generator of the bundled SYNTHETIC sample corpus of cycle-data (``cycle/data/sample/``).

    python -m cycle.data.sample_corpus            # rewrites packages/data/src/cycle/data/sample/
    python -m cycle.data.sample_corpus --out DIR  # anywhere else

Standard library only and deterministic: every random choice comes from a ``random.Random``
seeded with a string that names the paper, and every file is written with ``\\n`` line endings,
so a rerun reproduces the checked-in files byte for byte.

Nothing here comes from a real paper. Titles, methods, numbers, references and reviews are
assembled from templates and vocabularies of several research areas (``areas``). Each paper
draws latent quality knobs (``knobs``: evaluation depth, ablation study, number of citations,
statistical rigor, clarity, novelty, limitations, code release); the paper text shows them
(``spec``, ``section_context``, ``intro_sections``, ``method_section``, ``experiments_section``,
``summaries``, ``tables``, ``paper``) and the human reviews are derived from them
(``reasons``, ``reviews``), so that ratings can be learned from visible properties of the text.
``arxiv_folders`` and ``openreview_forums`` write the layout agreed with the parsers (see
``sample/README.md``); ``corpus.generate`` writes it all.
"""
