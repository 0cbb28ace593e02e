"""All tunable settings in one object.

Values come from defaults, then ``WIKISEARCH_*`` environment variables, then
explicit overrides (CLI flags). The README's settings table is written from
``FIELDS`` below, so documentation and code do not drift apart.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import WikisearchError


class SettingsError(WikisearchError):
    """An environment variable or flag has a value that cannot be used."""


#: The allowed values of the choice settings: the validator, the CLI's choices,
#: the search function and the index format all read them from here.
SEARCH_MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("blend", "rrf")
BUILD_RUNTIMES = ("onnx", "onnx-int8", "torch")
VECTOR_INDEXES = ("auto", "flat", "hnsw", "ivfpq")
LEXICAL_ENGINES = ("auto", "fts5", "tantivy")
ENGINES = ("serial", "spark")
#: The kinds of training pairs ``adapt`` can mine (``indexer.pairs.PAIR_RULES``).
PAIR_KINDS = ("title", "heading", "cloze", "sentence", "redirect")
ADAPT_LOSSES = ("mnrl", "gist", "gist-matryoshka")
#: What ``adapt`` trains: the whole model (chunks re-embedded), the side that reads queries,
#: or (auto) the whole model while the index is small enough to re-embed in the time bound.
ADAPT_SIDES = ("auto", "model", "query")
#: The arithmetic of ``adapt``'s training: bfloat16 matrix products (the weights stay float32),
#: float32 throughout, or (auto) bf16 where the CPU has bfloat16 instructions.
ADAPT_PRECISIONS = ("auto", "bf16", "fp32")
#: The ``adapt`` settings that must be above zero (one list for the check and its message).
ADAPT_POSITIVE = (
    "adapt_max_pages",
    "adapt_max_pairs",
    "adapt_max_tokens",
    "adapt_epochs",
    "adapt_batch_size",
    "adapt_learning_rate",
    "adapt_query_learning_rate",
    "adapt_query_epochs",
    "adapt_model_max_chunks",
)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{name} must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {value!r}")


@dataclass(frozen=True)
class Settings:
    #: Embedding model name from the registry (``wikisearch model list``).
    model: str = "all-MiniLM-L6-v2"
    #: Use a model that is not in the registry or not OSI-licensed.
    allow_unvetted_model: bool = False
    #: Chunks encoded per batch (batches are cut from length-sorted chunks).
    batch_size: int = 8
    #: What encodes chunks in a build: onnx (ONNX Runtime, the default), onnx-int8 or torch.
    build_runtime: str = "onnx"
    #: Where a model's ONNX export is kept, once per model, for every index built here; empty: beside each index.
    encoder_cache: str = ""
    #: Target size of a chunk in model tokens (title context included).
    chunk_tokens: int = 200
    #: Tokens shared by neighbouring windows of a long section.
    chunk_overlap: int = 40
    #: Sections shorter than this merge with their neighbour.
    min_chunk_tokens: int = 24
    #: FAISS index a build writes: auto (flat, then HNSW, then IVF-PQ as the index grows), flat, hnsw or ivfpq.
    vector_index: str = "auto"
    #: The Spark master of ``build --engine spark``: local[N] on one machine, yarn on a cluster.
    spark_master: str = "local[2]"
    #: Compressed MiB of a multistream dump one Spark task reads (whole bz2 streams, by the dump's index file).
    spark_task_mb: float = 64.0
    #: Largest index that auto keeps exact (flat).
    flat_max_chunks: int = 50_000
    #: Memory (MiB) auto lets an HNSW index take when served; a larger one gets IVF-PQ (compressed, re-ranked exactly).
    vector_memory_mb: int = 1024
    #: What the lexical leg searches: auto (SQLite FTS5 up to fts5_max_chunks, then tantivy), fts5 or tantivy.
    lexical_engine: str = "auto"
    #: Largest index that auto searches with SQLite FTS5 (it ranks every matching row: slow past ~100k chunks).
    fts5_max_chunks: int = 100_000
    #: ``adapt``: the pair kinds mined from the wiki's pages, comma-separated (``PAIR_KINDS``;
    #: ``sentence`` was measured and not kept).
    adapt_pair_kinds: str = "title,heading,cloze,redirect"
    #: ``adapt``: most pages read and mined, a seeded sample of a larger wiki (bounds reading and
    #: mining, in time and memory, whatever the wiki's size).
    adapt_max_pages: int = 20_000
    #: ``adapt``: most training pairs, sampled (bounds the time whatever the wiki's size).
    adapt_max_pairs: int = 3000
    #: ``adapt``: most tokens (query and passage, each cut at the model's 256) in the training pairs:
    #: long pages give fewer pairs, so that the time stays bounded (docs/adapt.md says by how much).
    adapt_max_tokens: int = 210_000
    #: ``adapt``: passes over the training pairs.
    adapt_epochs: int = 2
    #: ``adapt``: peak learning rate (linear warm-up over the first 10 % of steps, then linear decay).
    adapt_learning_rate: float = 5e-5
    #: ``adapt``: peak learning rate when only the side that reads queries learns (``adapt_side`` query).
    adapt_query_learning_rate: float = 1e-4
    #: ``adapt``: passes over the training pairs when only the side that reads queries learns.
    adapt_query_epochs: int = 3
    #: ``adapt``: pairs per step; the other pairs of a batch are each pair's negatives.
    adapt_batch_size: int = 32
    #: ``adapt``: seed of the pair sample, the batches and the model's dropout.
    adapt_seed: int = 0
    #: ``adapt``: the loss: mnrl (in-batch negatives), gist (in-batch negatives the base model
    #: finds closer to the query than its own passage are masked: fewer false negatives) or
    #: gist-matryoshka (gist, also on the vectors' first 256, 128 and 64 dimensions).
    adapt_loss: str = "gist"
    #: ``adapt``: keep the word-embedding layer as it is (only the transformer layers learn).
    adapt_freeze_embeddings: bool = False
    #: ``adapt``: training's arithmetic: bf16 (the model's matrix products in bfloat16, its weights
    #: and loss in float32: about twice as fast on a CPU with bfloat16 instructions), fp32, or
    #: auto: bf16 where the CPU has them (avx512_bf16, AMX), fp32 elsewhere.
    adapt_precision: str = "auto"
    #: ``adapt``: what learns: model (the whole model; every chunk is embedded again), query
    #: (a copy that reads queries, towards the chunks' stock vectors: nothing is re-embedded), or
    #: auto: model up to ``adapt_model_max_chunks`` chunks, query above.
    adapt_side: str = "auto"
    #: ``adapt``: most chunks an index has for auto to adapt the whole model: re-embedding them
    #: after training stays within the 15 minutes (docs/adapt.md says how it was measured).
    adapt_model_max_chunks: int = 2_000
    #: ``adapt``: how much the held-back pairs' MRR@10 must surely rise (the 5th percentile over
    #: resamples of the held-back pages) for the adapted model to be worth a switch and a re-embed.
    adapt_min_gain: float = 0.02
    #: ``adapt``: the same, for a model that reads only queries (a switch that re-embeds nothing).
    adapt_query_min_gain: float = 0.0
    #: CPU threads for the model (0: let torch decide).
    threads: int = 0
    #: Hide progress bars (for jobs and cron).
    quiet: bool = False
    #: Indexes served by the web app: ``name=dir,name=dir``.
    indexes: str = ""
    #: Longest accepted query, in characters.
    max_query_chars: int = 300
    #: Largest ``limit`` a search may ask for.
    max_limit: int = 50
    #: Default search mode: hybrid, dense or lexical.
    search_mode: str = "hybrid"
    #: How hybrid fuses its legs: blend (weighted normalised scores) or rrf.
    fusion: str = "blend"
    #: Share of the dense leg in a blend (0–1).
    dense_weight: float = 0.7
    #: Store sentence vectors at build time for the answer line (a build embeds about twice the text).
    answer_sentences: bool = True
    #: Cosine a sentence needs with a question to be shown as the answer line (1: never shown).
    answer_min_score: float = 0.55
    #: Rate limit per client for the web app (flask-limiter syntax).
    rate_limit: str = "60/minute"
    #: User-Agent of ``sync``'s API requests: a name and a contact (required by Wikimedia wikis).
    user_agent: str = ""
    #: Times ``sync`` retries a request that failed for a passing reason (503, 429, maxlag, no connection).
    api_retries: int = 5
    #: Seconds ``sync`` waits before its first retry when the wiki names no Retry-After (doubles each retry).
    api_backoff: float = 2.0
    #: Bot password login for ``sync`` (Special:BotPasswords): ``User@botname``; never logged.
    bot_user: str = ""
    #: The bot password itself; never logged, never written to an index.
    bot_password: str = dataclasses.field(default="", repr=False)

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults < ``WIKISEARCH_*`` environment < explicit overrides (None means unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in FIELDS:
            raw = env.get(variable(f.name))
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        for key, value in (overrides or {}).items():
            if value is not None:
                if key not in _NAMES:
                    raise SettingsError(f"unknown setting {key!r}")
                values[key] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.batch_size < 1:
            raise SettingsError("batch_size must be at least 1")
        if not 16 <= self.chunk_tokens <= 4096:
            raise SettingsError("chunk_tokens must be between 16 and 4096")
        if not 0 <= self.chunk_overlap < self.chunk_tokens // 2:
            raise SettingsError("chunk_overlap must be >= 0 and less than half of chunk_tokens")
        _check_choice("build_runtime", self.build_runtime, BUILD_RUNTIMES)
        _check_choice("vector_index", self.vector_index, VECTOR_INDEXES)
        _check_choice("adapt_loss", self.adapt_loss, ADAPT_LOSSES)
        _check_choice("adapt_side", self.adapt_side, ADAPT_SIDES)
        _check_choice("adapt_precision", self.adapt_precision, ADAPT_PRECISIONS)
        unknown = set(self.pair_kinds) - set(PAIR_KINDS)
        if unknown or not self.adapt_pair_kinds:
            raise SettingsError(f"adapt_pair_kinds: each must be one of {', '.join(PAIR_KINDS)}")
        if any(getattr(self, name) <= 0 for name in ADAPT_POSITIVE):
            raise SettingsError(f"{', '.join(ADAPT_POSITIVE[:-1])} and {ADAPT_POSITIVE[-1]} must be positive")
        if self.spark_task_mb <= 0:
            raise SettingsError("spark_task_mb must be positive")
        if self.flat_max_chunks < 0:
            raise SettingsError("flat_max_chunks must be >= 0")
        _check_choice("lexical_engine", self.lexical_engine, LEXICAL_ENGINES)
        if self.fts5_max_chunks < 0:
            raise SettingsError("fts5_max_chunks must be >= 0")
        if self.vector_memory_mb < 1:
            raise SettingsError("vector_memory_mb must be at least 1")
        _check_choice("search_mode", self.search_mode, SEARCH_MODES)
        _check_choice("fusion", self.fusion, FUSIONS)
        if not 0.0 <= self.answer_min_score <= 1.0:
            raise SettingsError("answer_min_score must be between 0 and 1")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise SettingsError("dense_weight must be between 0 and 1")
        if self.api_retries < 0 or self.api_backoff < 0:
            raise SettingsError("api_retries and api_backoff must be >= 0")
        if self.max_limit < 1 or self.max_query_chars < 1:
            raise SettingsError("max_limit and max_query_chars must be positive")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def pair_kinds(self) -> list[str]:
        """``adapt_pair_kinds``, one kind a name."""
        return self.adapt_pair_kinds.split(",")


FIELDS = list(dataclasses.fields(Settings))
_NAMES = {f.name for f in FIELDS}


def variable(setting: str) -> str:
    """The environment variable that sets ``setting``."""
    return f"WIKISEARCH_{setting.upper()}"


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    name = variable(f.name)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name}={raw!r}: expected true or false")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r}: expected an integer") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r}: expected a number") from None
    return raw
