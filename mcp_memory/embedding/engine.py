"""The ONNX embedding engine: ONNX Runtime + tokenizers + numpy, no torch.

One class, :class:`Engine`, used both by the warm server and by the in-process fallback
(through :func:`~mcp_memory.embedding.loader.load_engine`), so both produce identical vectors.
It reads the graph's declared inputs and feeds what is asked: ``input_ids``, ``attention_mask``, ``token_type_ids`` (zeros), ``position_ids`` (from the
mask, so left padding keeps positions right) and empty ``past_key_values.*`` tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from mcp_memory.embedding.protocol import Kind
from mcp_memory.embedding.specs import ModelPaths, ModelSpec
from mcp_memory.errors import EmbeddingError, ModelError

# Rows x padded length per ONNX run. Bounds memory and keeps padding waste low after sorting.
TOKEN_BUDGET = 8192
MAX_ROWS = 32

_ORT_TYPES = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}
_FED_INPUTS = {"input_ids", "attention_mask", "token_type_ids", "position_ids"}


class Engine:
    """A loaded model. Thread-safe: ONNX Runtime sessions may be run concurrently."""

    def __init__(
        self, spec: ModelSpec, paths: ModelPaths, *, threads: int = 2, dimension: int = 0
    ) -> None:
        self.spec = spec
        self.dimension = spec.dimension_for(dimension)
        self.paths = paths
        try:
            self.tokenizer = Tokenizer.from_file(str(paths.tokenizer))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise ModelError(f"cannot load tokenizer {paths.tokenizer}: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=spec.max_tokens)
        self.pad_id = _pad_id(self.tokenizer)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No spin-waiting between parallel sections: the warm server, MCP servers and hooks
        # share a few cores, and a spinning idle thread holds a core another process needs
        # (measured by bench/embeddings.py: 1.3x faster batches under load with spinning off).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No memory arena: with it, the largest batch shape ever seen stays reserved, so a
        # long-lived process (the warm server, the daemon) keeps the peak of its worst burst
        # (issue #16: 4.76 GB after 64 clients). Without it, and with embed_server/service.py's
        # worker pool and malloc_trim, RSS returns near idle (bench/daemon.py measures it).
        options.enable_cpu_mem_arena = False
        try:
            self.session = ort.InferenceSession(
                str(paths.model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own non-exported types
            raise ModelError(f"cannot load ONNX model {paths.model}: {exc}") from exc
        self._inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if spec.output not in outputs:
            raise ModelError(
                f"ONNX model {paths.model} has no output {spec.output!r} (it has {outputs})"
            )
        missing = {"input_ids", "attention_mask"} - set(self._inputs)
        if missing:
            raise ModelError(f"ONNX model {paths.model} lacks inputs {sorted(missing)}")
        # Fail at load, not at the first embed, when the graph wants something we cannot feed.
        unknown = sorted(
            f"{name} ({meta.type})"
            for name, meta in self._inputs.items()
            if meta.type not in _ORT_TYPES
            or not (name in _FED_INPUTS or name.startswith("past_key_values."))
        )
        if unknown:
            raise ModelError(
                f"ONNX model {paths.model} has inputs the engine cannot provide: "
                f"{', '.join(unknown)}; it is not a text-embedding export this engine supports"
            )
        self._lock = threading.Lock()  # guards tokenizer config, which is not re-entrant

    # -- public -------------------------------------------------------------------------

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray:
        """Embed ``texts``; returns float32 [len(texts), dimension], L2-normalised rows."""
        if kind not in ("query", "document"):
            raise EmbeddingError(f"kind must be 'query' or 'document', not {kind!r}")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefix = self.spec.query_prefix if kind == "query" else self.spec.document_prefix
        with self._lock:
            encodings = self.tokenizer.encode_batch([prefix + t for t in texts])
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        # Sort by length so each chunk pads to a similar length: padding is the main waste.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for chunk in self._chunks(order, ids):
            result[chunk] = self._run([ids[i] for i in chunk])
        return result

    def token_states(
        self, texts: Sequence[str], kind: Kind = "document", limit: int | None = None
    ) -> list[tuple[list[str], np.ndarray]]:
        """Each text's word pieces and their hidden states before pooling (L2-normalised rows,
        the special tokens and the model's prompt prefix left out): what late interaction
        compares word by word (:mod:`mcp_memory.service.coverage`). Batched like :meth:`embed`
        for a batch-invariant model (one run per text otherwise); the padding is masked out.
        ``limit``: read only each text's first ``limit`` tokens (the cost grows with them)."""
        prefix = self.spec.query_prefix if kind == "query" else self.spec.document_prefix
        with self._lock:
            prefix_pieces = (
                sum(1 - s for s in self.tokenizer.encode(prefix).special_tokens_mask)
                if prefix
                else 0
            )
            encodings = self.tokenizer.encode_batch([prefix + t for t in texts])
        rows = [np.asarray(e.ids[:limit], dtype=np.int64) for e in encodings]
        chunks = self._chunks(list(range(len(rows))), rows)
        states: dict[int, np.ndarray] = {}
        for chunk in chunks:
            width = max(1, max(len(rows[i]) for i in chunk))
            input_ids = np.full((len(chunk), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for n, i in enumerate(chunk):  # right padding: a row's own tokens come first
                input_ids[n, : len(rows[i])] = rows[i]
                mask[n, : len(rows[i])] = 1
            try:
                (hidden,) = self.session.run([self.spec.output], self._feed(input_ids, mask))
            except Exception as exc:  # onnxruntime's errors are not exported as a base class
                raise EmbeddingError(f"ONNX run failed: {exc}") from exc
            for n, i in enumerate(chunk):
                states[i] = np.asarray(hidden[n, : len(rows[i])], dtype=np.float32)
        out: list[tuple[list[str], np.ndarray]] = []
        for i, e in enumerate(encodings):
            keep = [j for j, s in enumerate(e.special_tokens_mask[:limit]) if not s]
            keep = keep[prefix_pieces:]
            vectors = states[i][keep]
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            out.append(([e.tokens[j] for j in keep], vectors))
        return out

    # -- internals ----------------------------------------------------------------------

    def _chunks(self, order: list[int], ids: list[np.ndarray]) -> list[list[int]]:
        if not self.spec.batch_invariant:
            return [[i] for i in order]
        chunks: list[list[int]] = []
        current: list[int] = []
        first_width = 1
        for i in order:  # ascending length, so the last row added sets the padded length
            width = max(1, len(ids[i]))
            # A new chunk when it is full, over the token budget, or when this row would pad
            # every row already in it to more than twice their length (one long text among
            # many short ones would otherwise multiply the work).
            if current and (
                len(current) >= MAX_ROWS
                or (len(current) + 1) * width > TOKEN_BUDGET
                or width > 2 * first_width + 8
            ):
                chunks.append(current)
                current = []
            if not current:
                first_width = width
            current.append(i)
        if current:
            chunks.append(current)
        return chunks

    def _run(self, rows: list[np.ndarray]) -> np.ndarray:
        batch = len(rows)
        width = max(1, max(len(r) for r in rows))
        input_ids = np.full((batch, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((batch, width), dtype=np.int64)
        for n, row in enumerate(rows):
            if self.spec.padding_side == "left":
                input_ids[n, width - len(row) :] = row
                mask[n, width - len(row) :] = 1
            else:
                input_ids[n, : len(row)] = row
                mask[n, : len(row)] = 1
        feed = self._feed(input_ids, mask)
        try:
            (hidden,) = self.session.run([self.spec.output], feed)
        except Exception as exc:  # onnxruntime's errors are not exported as a base class
            raise EmbeddingError(f"ONNX run failed: {exc}") from exc
        if hidden.shape[-1] != self.spec.dimension:  # else vectors would be silently cut
            raise ModelError(
                f"ONNX model {self.paths.model} gives {hidden.shape[-1]}-d vectors but model "
                f"{self.spec.id} is declared {self.spec.dimension}-d; the files do not match it"
            )
        pooled = self._pool(np.asarray(hidden, dtype=np.float32), mask)
        pooled = pooled[:, : self.dimension]
        if self.spec.normalize:
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.maximum(norms, 1e-12)
        if not np.all(np.isfinite(pooled)):
            raise EmbeddingError("the model produced non-finite values")
        return pooled.astype(np.float32, copy=False)

    def _feed(self, input_ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        feed: dict[str, np.ndarray] = {}
        batch = input_ids.shape[0]
        for name, meta in self._inputs.items():
            dtype = _ORT_TYPES.get(meta.type)
            if dtype is None:
                raise ModelError(f"unsupported input type {meta.type} for {name}")
            if name == "input_ids":
                feed[name] = input_ids.astype(dtype, copy=False)
            elif name == "attention_mask":
                feed[name] = mask.astype(dtype, copy=False)
            elif name == "token_type_ids":
                feed[name] = np.zeros_like(input_ids, dtype=dtype)
            elif name == "position_ids":
                positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
                feed[name] = positions.astype(dtype, copy=False)
            elif name.startswith("past_key_values"):
                # An empty KV cache: [batch, heads, 0, head_dim]; symbolic dims other than
                # the batch are the past length, which is 0 for a fresh encode.
                shape = [batch] + [d if isinstance(d, int) else 0 for d in meta.shape[1:]]
                feed[name] = np.zeros(shape, dtype=dtype)
            else:
                raise ModelError(f"model input {name!r} is not one the engine can provide")
        return feed

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.spec.pooling == "mean":
            weights = mask[:, :, None].astype(np.float32)
            summed = (hidden * weights).sum(axis=1)
            return summed / np.maximum(weights.sum(axis=1), 1.0)
        # Last real token per row, found through the mask: right for either padding side.
        width = mask.shape[1]
        last = width - 1 - np.argmax(mask[:, ::-1], axis=1)
        return hidden[np.arange(hidden.shape[0]), last]


def _pad_id(tokenizer: Tokenizer) -> int:
    for token in ("[PAD]", "<|endoftext|>", "<pad>", "<|pad|>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return 0
