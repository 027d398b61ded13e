"""A tiny random-weight stand-in for onnx-community's Qwen3-Embedding-0.6B export.

:func:`build_tiny_qwen` writes, in milliseconds and with the ``onnx`` package alone, a graph
with exactly the export's input and output names, dtypes and symbolic shapes:

* inputs ``input_ids`` [batch, seq], ``attention_mask`` [batch, total_seq], ``position_ids``
  [batch, seq] (int64) and ``past_key_values.{i}.key/.value`` [batch, kv_heads, past_seq,
  head_dim] (float32);
* outputs ``last_hidden_state`` [batch, seq, hidden] and ``present.{i}.key/.value``
  [batch, kv_heads, total_seq, head_dim].

Each layer is causal self-attention masked by ``attention_mask`` whose keys and values are the
past ones concatenated with the new ones (so the past inputs are genuinely consumed and must
have the right shapes), and the embeddings add a position embedding gathered by
``position_ids``. So the graph catches what the real model would punish: pooling ``[:, -1]``
under right padding picks a pad token, and ``arange`` position ids under left padding shift
every real token's position.

It also writes a WordLevel ``tokenizer.json`` whose post-processor appends ``<|endoftext|>``
(also the pad token), as Qwen's does, and a ``config.json``, under the same relative paths as
the real repo, so the directory can be served as a stand-in hub repo.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from mcp_memory.embedding.specs import QWEN3, ModelFile, ModelPaths, ModelSpec

LAYERS = 2
KV_HEADS = 2
HEAD_DIM = 8
HIDDEN = KV_HEADS * HEAD_DIM * 2  # 32: the attention output is projected back up
MAX_POSITIONS = 128
EOS = "<|endoftext|>"

WORDS = [
    "the",
    "a",
    "an",
    "of",
    "to",
    "and",
    "in",
    "on",
    "for",
    "with",
    "is",
    "was",
    "are",
    "it",
    "this",
    "that",
    "cat",
    "dog",
    "bird",
    "fish",
    "tree",
    "house",
    "car",
    "road",
    "rain",
    "sun",
    "moon",
    "star",
    "memory",
    "remember",
    "find",
    "search",
    "query",
    "instruct",
    "database",
    "vector",
    "model",
    "python",
    "test",
    "bug",
    "fix",
    "error",
    "commit",
    "branch",
    "merge",
    "deploy",
    "server",
    "client",
]
PUNCT = [":", ".", ",", "?", "!"]
VOCAB = ["[UNK]", *WORDS, *PUNCT, EOS]  # EOS last: its id is not 0, like Qwen's 151643

# A prefix made of vocabulary words, shaped like QWEN3's "Instruct: {task}\nQuery:".
QUERY_PREFIX = "Instruct: find the memory\nQuery:"

MODEL_FILE = QWEN3.model_file  # "onnx/model_int8.onnx"
TOKENIZER_FILE = QWEN3.tokenizer_file
CONFIG_FILE = "config.json"
TEST_REPO = "test-org/tiny-qwen3-embedding"
TEST_REVISION = "0123456789abcdef0123456789abcdef01234567"


def tiny_qwen_spec(**overrides: object) -> ModelSpec:
    """QWEN3 with the tiny graph's dimensions; a test repo so `pull` and `locate` work on it."""
    fields: dict[str, object] = {
        "id": "tiny-qwen",
        "dimension": HIDDEN,
        "matryoshka_min": 8,
        "max_tokens": 64,
        "query_prefix": QUERY_PREFIX,
        "repo": TEST_REPO,
        "revision": TEST_REVISION,
        "model_file": MODEL_FILE,
        "tokenizer_file": TOKENIZER_FILE,
        "files": (ModelFile(MODEL_FILE), ModelFile(TOKENIZER_FILE), ModelFile(CONFIG_FILE)),
        "license_note": "random weights, for tests",
    }
    fields.update(overrides)
    return dataclasses.replace(QWEN3, **fields)  # type: ignore[arg-type]


def build_tiny_qwen(
    directory: Path,
    *,
    seed: int = 0,
    output_name: str = "last_hidden_state",
    extra_input: str | None = None,
    pad_token: str | None = None,
) -> ModelPaths:
    """Write the graph, tokenizer and config under ``directory``; return their paths.

    ``output_name`` and ``extra_input`` build deliberately broken variants (a graph without
    ``last_hidden_state``, or with an input the engine cannot provide). ``pad_token`` adds a
    pad token distinct from ``<|endoftext|>`` (Qwen has none: it pads with ``<|endoftext|>``).
    """
    model_path = directory / MODEL_FILE
    tokenizer_path = directory / TOKENIZER_FILE
    model_path.parent.mkdir(parents=True, exist_ok=True)
    vocab = VOCAB if pad_token is None else [*VOCAB, pad_token]
    onnx.save(_graph(seed, len(vocab), output_name, extra_input), str(model_path))
    build_tokenizer(pad_token).save(str(tokenizer_path))
    config = {
        "architectures": ["Qwen3Model"],
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "eos_token_id": VOCAB.index(EOS),
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return ModelPaths(model_path, tokenizer_path)


def build_tokenizer(pad_token: str | None = None) -> Tokenizer:
    vocab = VOCAB if pad_token is None else [*VOCAB, pad_token]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    eos_id = VOCAB.index(EOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, eos_id)]
    )
    tokenizer.add_special_tokens([EOS] if pad_token is None else [EOS, pad_token])
    return tokenizer


def _graph(
    seed: int, vocab_size: int, output_name: str, extra_input: str | None
) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def weight(name: str, shape: tuple[int, ...], scale: float) -> str:
        inits.append(numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name))
        return name

    def const(name: str, values: float | list[int], dtype: type = np.int64) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    past = "past_sequence_length"
    total = "total_sequence_length"
    inputs = [
        helper.make_tensor_value_info(
            "input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]
        ),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", total]),
        helper.make_tensor_value_info(
            "position_ids", TensorProto.INT64, ["batch_size", "sequence_length"]
        ),
    ]
    outputs = [
        helper.make_tensor_value_info(
            output_name, TensorProto.FLOAT, ["batch_size", "sequence_length", HIDDEN]
        )
    ]
    for i in range(LAYERS):
        for part in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(
                    f"past_key_values.{i}.{part}",
                    TensorProto.FLOAT,
                    ["batch_size", KV_HEADS, past, HEAD_DIM],
                )
            )
            outputs.append(
                helper.make_tensor_value_info(
                    f"present.{i}.{part}",
                    TensorProto.FLOAT,
                    ["batch_size", KV_HEADS, total, HEAD_DIM],
                )
            )
    if extra_input is not None:
        inputs.append(
            helper.make_tensor_value_info(extra_input, TensorProto.FLOAT, ["batch_size", 3])
        )

    # Embeddings: token + position (gathered by position_ids, so wrong positions change vectors).
    tok = node("Gather", [weight("embed_tokens", (vocab_size, HIDDEN), 1.0), "input_ids"], "tok")
    pos = node(
        "Gather", [weight("embed_positions", (MAX_POSITIONS, HIDDEN), 1.0), "position_ids"], "pos"
    )
    x = node("Add", [tok, pos], "x0")

    # Shapes and masks shared by the layers.
    zero, one = const("c0", [0]), const("c1", [1])
    seq = node("Slice", [node("Shape", ["input_ids"], "ids_shape"), one, const("c2", [2])], "seq")
    total_len = node(
        "Slice", [node("Shape", ["attention_mask"], "mask_shape"), one, const("c2b", [2])], "total"
    )
    past_len = node("Sub", [total_len, seq], "past_len")
    seq_s = node("Squeeze", [seq, zero], "seq_s")
    total_s = node("Squeeze", [total_len, zero], "total_s")
    past_s = node("Squeeze", [past_len, zero], "past_s")
    step = const("step", 1)  # scalar 1
    start = const("start", 0)
    q_pos = node("Add", [node("Range", [start, seq_s, step], "q_range"), past_s], "q_pos")
    k_pos = node("Range", [start, total_s, step], "k_pos")
    causal = node(
        "LessOrEqual",
        [node("Unsqueeze", [k_pos, zero], "k_row"), node("Unsqueeze", [q_pos, one], "q_col")],
        "causal",
    )  # [seq, total]: key j visible from query i when j <= past + i
    keep = node(
        "Cast",
        [node("Unsqueeze", ["attention_mask", const("axes12", [1, 2])], "mask4")],
        "keep_pad",
        to=TensorProto.BOOL,
    )  # [batch, 1, 1, total]
    visible = node("And", [keep, causal], "visible")  # [batch, 1, seq, total]
    neg = const("neg", -1e9, np.float32)
    split_shape = const("split_shape", [0, 0, KV_HEADS, HEAD_DIM])
    merge_shape = const("merge_shape", [0, 0, KV_HEADS * HEAD_DIM])
    scale = const("scale", 1.0 / np.sqrt(HEAD_DIM), np.float32)

    for i in range(LAYERS):

        def heads(name: str, src: str, i: int = i) -> str:
            proj = node(
                "MatMul",
                [src, weight(f"l{i}.{name}", (HIDDEN, KV_HEADS * HEAD_DIM), 0.3)],
                f"l{i}.{name}.p",
            )
            split = node("Reshape", [proj, split_shape], f"l{i}.{name}.s")
            return node("Transpose", [split], f"l{i}.{name}.t", perm=[0, 2, 1, 3])  # [B,H,S,D]

        q, k, v = heads("q", x), heads("k", x), heads("v", x)
        keys = node("Concat", [f"past_key_values.{i}.key", k], f"present.{i}.key", axis=2)
        values = node("Concat", [f"past_key_values.{i}.value", v], f"present.{i}.value", axis=2)
        kt = node("Transpose", [keys], f"l{i}.kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [q, kt], f"l{i}.qk"), scale], f"l{i}.scores")
        masked = node("Where", [visible, scores, neg], f"l{i}.masked")
        attn = node("Softmax", [masked], f"l{i}.attn", axis=-1)
        ctx = node(
            "Transpose",
            [node("MatMul", [attn, values], f"l{i}.ctx")],
            f"l{i}.ctx.t",
            perm=[0, 2, 1, 3],
        )
        merged = node("Reshape", [ctx, merge_shape], f"l{i}.merged")
        out = node(
            "MatMul", [merged, weight(f"l{i}.o", (KV_HEADS * HEAD_DIM, HIDDEN), 0.3)], f"l{i}.out"
        )
        x = node("Tanh", [node("Add", [x, out], f"l{i}.res")], f"l{i}.x")
    node("Identity", [x], output_name)

    graph = helper.make_graph(nodes, "tiny_qwen3_embedding", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
