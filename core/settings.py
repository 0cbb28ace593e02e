"""All tunable settings in one object, each declared once.

Values come from defaults, then ``WIKISEARCH_*`` environment variables, then
explicit overrides (CLI flags). Each setting is declared here with its help, its
choices or range, and whether a user sets it or it is a capacity threshold: the
validation and the tables of docs/reference/settings.md are made
from these declarations (``markdown_table``; a test checks the docs are current).
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


#: The allowed values of the choice settings: the declarations, the CLI's choices,
#: the search function and the index format all read them from here.
SEARCH_MODES = ("hybrid", "dense", "lexical")
BUILD_RUNTIMES = ("auto", "bf16", "onnx", "onnx-int8", "torch")
VECTOR_INDEXES = ("auto", "flat", "hnsw", "ivfpq")
LEXICAL_ENGINES = ("auto", "fts5", "tantivy")
ENGINES = ("serial", "spark")

_ADAPT_ONE_SIDE = "adapt now trains only what reads queries (docs/experiments/2026-12-04-adapt.md)"
#: Settings measured and not kept, or folded into the recipe: a variable still set gets one clear line.
REMOVED = {
    "adapt_side": _ADAPT_ONE_SIDE,
    "adapt_model_max_chunks": _ADAPT_ONE_SIDE,
    "adapt_query_epochs": "WIKISEARCH_ADAPT_EPOCHS sets them",
    "adapt_query_learning_rate": "WIKISEARCH_ADAPT_LEARNING_RATE sets it",
    "adapt_query_min_gain": "WIKISEARCH_ADAPT_MIN_GAIN sets it",
    "adapt_loss": "the one loss is the query side's, recorded in the manifest",
    "adapt_freeze_embeddings": "measured and not kept",
    "adapt_pair_kinds": "the recipe mines title, heading, cloze and redirect pairs (sentence: measured, not kept)",
    "adapt_batch_size": "a constant of the recipe (32), recorded in the manifest",
    "adapt_max_pages": "a constant of the recipe (20000), recorded in the manifest",
    "adapt_max_tokens": "a constant of the recipe (210000), recorded in the manifest",
    "adapt_precision": "bfloat16 where the CPU multiplies it natively, else float32, recorded in the manifest",
    "fusion": "hybrid always blends (rrf measured worse on both judgement sets)",
}


@dataclass(frozen=True)
class Spec:
    """What a setting is: its help, its allowed values, who sets it."""

    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    #: A capacity threshold (when a larger index switches structure), not a choice users make.
    capacity: bool = False
    #: The CLI option that also sets it.
    flag: str = ""
    #: Never shown with its value (a password).
    secret: bool = False


def setting(default: Any, help: str, **spec: Any) -> Any:
    """A field of ``Settings`` declared with its ``Spec``."""
    return dataclasses.field(default=default, metadata={"spec": Spec(help, **spec)}, repr=not spec.get("secret"))


@dataclass(frozen=True)
class Settings:
    model: str = setting("all-MiniLM-L6-v2", "embedding model from the registry (`wikisearch model list`)")
    allow_unvetted_model: bool = setting(
        False, "use a model not in the registry or not OSI-licensed", flag="--allow-unvetted-model"
    )
    batch_size: int = setting(8, "chunks per model batch (cut from length-sorted chunks)", low=1)
    build_runtime: str = setting(
        "auto",
        "what encodes chunks in a build: auto (an index's own precision; a new one bf16 where the CPU multiplies "
        "bfloat16 natively, else onnx), torch in bfloat16, ONNX Runtime in float32, its int8 quantisation, "
        "or sentence-transformers",
        choices=BUILD_RUNTIMES,
        flag="build --runtime",
    )
    encoder_cache: str = setting(
        "", "a directory that keeps each model's ONNX export once for every index built (empty: beside each index)"
    )
    chunk_tokens: int = setting(200, "target chunk size in model tokens, heading context included", low=16, high=4096)
    chunk_overlap: int = setting(40, "tokens shared by neighbouring windows of a long section", low=0)
    min_chunk_tokens: int = setting(24, "sections shorter than this join their neighbour", low=0)
    vector_index: str = setting(
        "auto",
        "FAISS index a build writes: auto (exact flat, then HNSW, then IVF-PQ re-ranked exactly, as the index grows)",
        choices=VECTOR_INDEXES,
        flag="build --vector-index",
    )
    spark_master: str = setting("local[2]", "the Spark master of `build --engine spark`", flag="build --master")
    spark_task_mb: float = setting(
        64.0, "compressed MiB of a multistream dump one Spark task reads (whole bz2 streams)", low=0.001, capacity=True
    )
    flat_max_chunks: int = setting(50_000, "largest index `vector_index` auto keeps exact", low=0, capacity=True)
    vector_memory_mb: int = setting(
        1024,
        "memory (MiB) auto lets an HNSW index take when served (~1.8 KB a chunk at 384 dimensions); "
        "a larger index gets IVF-PQ (48 bytes a chunk)",
        low=1,
        capacity=True,
    )
    lexical_engine: str = setting(
        "auto",
        "what the lexical leg searches: auto (SQLite FTS5, then a tantivy index beside the store)",
        choices=LEXICAL_ENGINES,
        flag="build --lexical-engine",
    )
    fts5_max_chunks: int = setting(
        100_000, "largest index `lexical_engine` auto searches with FTS5 (it ranks every match)", low=0, capacity=True
    )
    adapt_max_pairs: int = setting(3000, "`adapt`: most training pairs, sampled", low=1, flag="adapt --max-pairs")
    adapt_epochs: int = setting(3, "`adapt`: passes over the training pairs", low=1, flag="adapt --epochs")
    adapt_learning_rate: float = setting(
        1e-4, "`adapt`: peak learning rate (warm-up over 10 % of steps, then linear decay)", low=1e-9
    )
    adapt_seed: int = setting(0, "`adapt`: seed of the pair sample, the batches and dropout", flag="adapt --seed")
    adapt_min_gain: float = setting(
        0.0,
        "`adapt`: rise in the held-back pairs' MRR@10 the adapted model surely needs (5th percentile over "
        "resampled pages) to be kept",
        flag="adapt --min-gain",
    )
    threads: int = setting(0, "CPU threads for the model (0: torch decides)", low=0)
    quiet: bool = setting(False, "no progress bars (jobs, cron)", flag="-q")
    indexes: str = setting(
        "", "indexes the web app serves: `name=dir,name=dir` (the first is the default)", flag="serve --index"
    )
    max_query_chars: int = setting(300, "longest accepted query, in characters", low=1)
    max_limit: int = setting(50, "largest `limit` a search may ask for", low=1)
    search_mode: str = setting("hybrid", "default ranking", choices=SEARCH_MODES, flag="query --mode")
    dense_weight: float = setting(0.7, "share of the dense leg in hybrid's blend", low=0.0, high=1.0)
    answer_sentences: bool = setting(
        True, "a build stores a vector for every sentence, for the answer line (it embeds about twice the text)"
    )
    answer_min_score: float = setting(
        0.6, "cosine a sentence needs with a question to be shown as the answer line (1: never)", low=0.0, high=1.0
    )
    rate_limit: str = setting("60/minute", "per-client rate limit of searches in the web app (flask-limiter syntax)")
    suggest_rate_limit: str = setting(
        "300/minute", "per-client rate limit of typing suggestions (`/api/v1/opensearch`), a budget of their own"
    )
    user_agent: str = setting(
        "", "`sync`'s User-Agent: a name and a contact; required for Wikimedia wikis", flag="sync --user-agent"
    )
    api_retries: int = setting(5, "times `sync` retries a request that failed for a passing reason", low=0)
    api_backoff: float = setting(
        2.0, "seconds before `sync`'s first retry when the wiki names no Retry-After; doubles each retry", low=0.0
    )
    bot_user: str = setting("", "`sync` logs in with this bot password user (`User@bot`, Special:BotPasswords)")
    bot_password: str = setting("", "its password; never logged, never written to an index", secret=True)

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults < ``WIKISEARCH_*`` environment < explicit overrides (None means unset)."""
        env = os.environ if environ is None else environ
        for name, why in REMOVED.items():
            if env.get(variable(name)):
                raise SettingsError(f"{variable(name)} was removed: {why}; unset it", "removed_setting")
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
        """Each value within its declaration; then the rules between settings."""
        for f in FIELDS:
            _check(f.name, getattr(self, f.name), spec_of(f))
        if self.chunk_overlap >= self.chunk_tokens // 2:
            raise SettingsError("chunk_overlap must be less than half of chunk_tokens")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


FIELDS = list(dataclasses.fields(Settings))
_NAMES = {f.name for f in FIELDS}


def spec_of(f: dataclasses.Field[Any]) -> Spec:
    return f.metadata["spec"]


def variable(setting: str) -> str:
    """The environment variable that sets ``setting``."""
    return f"WIKISEARCH_{setting.upper()}"


def _check(name: str, value: Any, spec: Spec) -> None:
    if spec.choices and value not in spec.choices:
        allowed = spec.choices
        raise SettingsError(f"{name} must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {value!r}")
    low, high = spec.low, spec.high
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if low is not None and high is not None else f"at least {low:g}"
        raise SettingsError(f"{name} must be {bound}, not {value!r}")


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


def _shown(f: dataclasses.Field[Any]) -> str:
    spec, default = spec_of(f), f.default
    if spec.secret or default == "":
        return "(empty)"
    return f"`{str(default).lower() if isinstance(default, bool) else default}`"


def markdown_table(capacity: bool | None = None) -> str:
    """The settings as a Markdown table: those users set (``capacity`` False), the capacity
    thresholds (True) or all (None), each with its default, allowed values and help."""
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for f in FIELDS:
        spec = spec_of(f)
        if capacity is not None and spec.capacity != capacity:
            continue
        if spec.choices or isinstance(f.default, bool):
            allowed = ", ".join(f"`{c}`" for c in spec.choices or ("true", "false"))
        elif spec.low is not None:
            allowed = f"{spec.low:g} – {spec.high:g}" if spec.high is not None else f"≥ {spec.low:g}"
        else:
            allowed = ""
        said = spec.help + (f" (`{spec.flag}`)" if spec.flag else "")
        rows.append(f"| `{variable(f.name)}` | {_shown(f)} | {allowed} | {said} |")
    return "\n".join(rows) + "\n"
