"""The ``data`` config group's schema (conf/data/*.yaml), registered via ``cycle.schemas``."""

from __future__ import annotations

from dataclasses import dataclass, field

from cycle.core.schemas import GenerationConfig, register, register_stage


@dataclass
class SplitConfig:
    """Target sizes; a smaller corpus is split in the same proportion (see ``splits.split_sizes``)."""

    train: int
    test: int
    stratify: str | None = None  # a Review-5K column (e.g. accepted): split each value alike


@dataclass
class OutlineConfig:
    """Where Research-14K's outline fields come from: ``heuristic`` (offline rules) or ``llm``."""

    method: str = "heuristic"  # heuristic | llm
    # llm: the prompt template ({paper} is replaced by the paper's LaTeX); null = built-in prompt.
    prompt: str | None = None
    max_paper_chars: int = 60000
    batch_size: int = 8


@dataclass
class SemanticScholarConfig:
    """Reference abstracts from the Semantic Scholar batch API; off by default (network)."""

    enabled: bool = False
    api_key_env: str = "S2_API_KEY"
    batch_size: int = 500
    min_interval_s: float = 1.0


@dataclass
class FileLimits:
    """Bounds per raw record: each file read, all of one record's files, and its parse time
    (pylatexenc takes ~12 s per MB of LaTeX; a record over the deadline is rejected)."""

    max_file_mb: float = 16.0
    max_record_mb: float = 64.0
    parse_timeout_s: float = 300.0  # 0: parse in the build process, without a deadline

    def as_kwargs(self) -> dict[str, int]:
        """The byte limits, as ``SourceRoot`` takes them."""
        return {
            "max_file_bytes": int(self.max_file_mb * (1 << 20)),
            "max_record_bytes": int(self.max_record_mb * (1 << 20)),
        }


DEFAULT_LIMITS = FileLimits()


@dataclass
class OpenReviewExportConfig:
    """How an OpenReview export in the PeerRead layout is read (``cycle.data.openreview_export``)."""

    venue: str | None = None  # null: each record's ``conference``
    rating_scale: list[int] | None = None  # [low, high]; null: rating_scales[venue]
    rating_scales: dict[str, list[int]] = field(default_factory=dict)
    # export field -> review score; fields not named here are kept in the review's ``raw``
    score_fields: dict[str, str] = field(
        default_factory=lambda: {"RECOMMENDATION": "rating", "REVIEWER_CONFIDENCE": "confidence"}
    )
    # true: a paper without readable full text is rejected; false: kept with its abstract
    require_full_text: bool = True


@dataclass
class DataConfig:
    name: str = "sample"
    # raw: build from LaTeX / OpenReview sources; released: load the released datasets;
    # export: an OpenReview export in the PeerRead layout (export_dir).
    source: str = "raw"
    # raw sources; null = the bundled synthetic sample corpus.
    arxiv_dir: str | None = None
    openreview_dir: str | None = None
    export_dir: str | None = None  # reviews/<id>.json (+ parsed_pdfs/<id>.pdf.md)
    openreview_export: OpenReviewExportConfig = field(default_factory=OpenReviewExportConfig)
    # released datasets: a hub id or a local .json/.jsonl/.parquet file or folder.
    review5k_id: str | None = None
    research14k_id: str | None = None
    build: list[str] = field(default_factory=lambda: ["review5k", "research14k"])
    review5k_split: SplitConfig = field(default_factory=lambda: SplitConfig(4189, 782))
    research14k_split: SplitConfig = field(default_factory=lambda: SplitConfig(12696, 802))
    reviewer_variant: str = "A"  # review text layout of the SFT target (docs/formats.md §1)
    min_reviews: int = 1  # forums with fewer parseable reviews are rejected
    accepted_only: bool = (
        True  # Research-14K keeps accepted papers (decision known and not Accept -> out)
    )
    only_cited: bool = True  # keep only the bib entries the paper cites
    keep_appendix: bool = False
    abstract_cache: str | None = None  # JSON {arxiv:/doi:/title: key -> abstract}
    semantic_scholar: SemanticScholarConfig = field(default_factory=SemanticScholarConfig)
    outline: OutlineConfig = field(default_factory=OutlineConfig)
    export: list[str] = field(default_factory=lambda: ["jsonl", "parquet"])
    max_papers: int | None = None  # cap per source, for quick runs
    limits: FileLimits = field(default_factory=FileLimits)


@dataclass
class BuildDataConfig(GenerationConfig):
    """``cycle build_data``; model/backend/sampling write outlines when data.outline.method=llm."""

    data: DataConfig = field(default_factory=DataConfig)
    token_stats: bool = True


def register_configs() -> None:
    register("data", DataConfig)
    register_stage("build_data", BuildDataConfig)
