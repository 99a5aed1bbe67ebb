"""MiniLM's transformer outside PyTorch: `embed.backend: openvino` (the default),
`openvino_bf16` and `onnx`.

- **openvino** converts the offline model (`openvino.convert_model`, about 3 s, once per
  machine: the result is kept, see `embed.converted_path`) and runs it in float32, so its
  vectors are the same on every CPU (with the kernels pinned in `pixelated/__init__.py`) and a
  fresh clone reproduces dvc.lock; 1.56x the float model's speed under the same pins, without
  importing torch (bench/results/embedding.json).
- **openvino_bf16** runs the same conversion in bfloat16 where the CPU has bf16 units (AMX or
  AVX512-BF16) and the oneDNN pin is lifted, else in float32: on a 2-core machine with them
  about 2.5x faster than float `model.encode` in a process without pins, cosine >= 0.9999 to
  the float vectors (bench/results/embedding_bf16.json), but the vectors, and every output
  after them, then depend on the CPU.
- **onnx** exports an ONNX graph with `torch.onnx.export` and quantizes its MatMul weights to
  int8 with ONNX Runtime (`pip install onnxruntime onnx`). sentence-transformers' own
  `backend="onnx"` needs optimum, which pins transformers 4.x (this project runs 5.x). It
  measured below the bar (cosine 0.96 at worst, no faster here), so it is kept for the bench.

Nothing is downloaded. Mean pooling and normalization stay in numpy (`GraphEncoder`), whose
`encode` takes the arguments `SentenceTransformer.encode` takes, so `embed.encode_sorted`
drives any backend.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pixelated.core.atomic import atomic_path

log = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def traceable(model):
    """(`model`'s transformer as a module of three plain tensors returning the last hidden
    state, sample inputs): what both converters trace. `model` is a SentenceTransformer."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = model.tokenizer(["an example", "a longer example text"], padding=True, return_tensors="pt")
    return Hidden(model[0].auto_model).eval(), sample


def export(model, path: Path, quantize: bool = True) -> Path:
    """Write `model`'s transformer (a SentenceTransformer) as ONNX at `path`, int8 weights
    when `quantize`."""
    import torch

    bert, sample = traceable(model)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, torch.no_grad():
        float_path = tmp.with_name(tmp.name + ".float.onnx")
        torch.onnx.export(
            bert,
            tuple(sample[name] for name in INPUTS),
            str(float_path),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # MatMul weights only, per channel: quantizing the embedding Gather as well cut the
            # mean cosine to the float model from 0.994 to 0.95 (bench/embed_bench.py)
            quantize_dynamic(
                str(float_path), str(tmp), op_types_to_quantize=["MatMul"], per_channel=True,
                weight_type=QuantType.QInt8,
            )  # fmt: skip
            float_path.unlink()
        else:
            float_path.replace(tmp)
    log.info("exported %s (%s)", path, "int8" if quantize else "float32")
    return path


class GraphEncoder:
    """Mean-pooled, L2-normalized sentence vectors from a converted transformer: subclasses
    say how to run it (`hidden`: token ids to the last hidden state, float32)."""

    def __init__(self, tokenizer, max_seq_length: int):
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    def hidden(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts, batch_size: int = 64, normalize_embeddings: bool = True, **_) -> np.ndarray:
        """One call per `batch_size` texts, in the order given (callers sort by length)."""
        out = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            feed = {name: tokens[name].astype(np.int64) for name in INPUTS}
            hidden = self.hidden(feed).astype(np.float32, copy=False)
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            if normalize_embeddings:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out.append(pooled.astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, 384), np.float32)


class OnnxEncoder(GraphEncoder):
    """An exported ONNX graph (see `export`) on ONNX Runtime's CPU provider."""

    def __init__(self, path: Path, tokenizer, max_seq_length: int):
        import onnxruntime as ort

        super().__init__(tokenizer, max_seq_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.wanted = {i.name for i in self.session.get_inputs()}

    def hidden(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: v for k, v in feed.items() if k in self.wanted})[0]


class OfflineTokenizer:
    """A model folder's tokenizer.json run by `tokenizers`, as SentenceTransformer runs it
    (truncated at the model's max_seq_length, padded to the longest text of the batch): the same
    ids as the transformers tokenizer, without importing transformers and torch (about 11 s per
    process here). Called as GraphEncoder calls a transformers tokenizer; the truncation and
    padding it is asked for are the ones set here."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self.max_seq_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        pad = self.tokenizer.padding  # the file pads to a fixed length: keep its token, pad to the longest
        self.tokenizer.enable_padding(
            pad_id=pad["pad_id"], pad_token=pad["pad_token"], pad_type_id=pad["pad_type_id"]
        )
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)

    def __call__(self, texts: list[str], **_) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encodings], np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], np.int64),
        }


class OpenVinoEncoder(GraphEncoder):
    """The transformer as an OpenVINO model compiled for this CPU, on the cores this process may
    use: bf16 where it has bf16 units unless `precision` ("f32") says otherwise. `graph` is an
    OpenVINO model or the path of a saved one (`from_model` converts one)."""

    def __init__(self, graph, tokenizer, max_seq_length: int, precision: str | None = None):
        import openvino as ov

        super().__init__(tokenizer, max_seq_length)
        core = ov.Core()
        graph = core.read_model(graph) if isinstance(graph, Path) else graph
        has_bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") and bf16_allowed()
        self.precision = precision or ("bf16" if has_bf16 else "f32")
        self.compiled = core.compile_model(
            graph,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": self.precision,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": len(os.sched_getaffinity(0)),
            },
        )
        log.info("MiniLM on OpenVINO %s, %s", ov.__version__, self.precision)

    @classmethod
    def from_model(cls, model, path: Path | None = None, precision: str | None = None) -> OpenVinoEncoder:
        """`model` (a SentenceTransformer) on OpenVINO. With `path` (an .xml), the converted model
        is read from there, or saved there after converting: every later process skips the 3 s
        conversion, and `embed.load_encoder` then skips loading `model` at all."""
        graph = path if path and path.exists() else convert_openvino(model, path)
        return cls(graph, model.tokenizer, model.max_seq_length, precision)

    def hidden(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.compiled(feed)[0]


def bf16_allowed() -> bool:
    """Whether oneDNN may use the CPU's bf16 units: not under the AVX2 cap that
    `pixelated/__init__.py` sets for reproducible numerics (ONEDNN_MAX_CPU_ISA), which leaves
    OpenVINO no bf16 kernel (on a CPU with AMX, compiling in bf16 failed on a Softmax)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return cap == "ALL" or "BF16" in cap or "AMX" in cap


def convert_openvino(model, path: Path | None = None):
    """`model`'s transformer as an OpenVINO model; saved at `path` when given, float32 weights
    as converted (never compressed), its folder renamed into place whole."""
    import openvino as ov

    bert, sample = traceable(model)
    dynamic = [(name, [-1, -1], ov.Type.i64) for name in INPUTS]
    graph = ov.convert_model(bert, example_input=dict(sample), input=dynamic)
    if path is not None:
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.parent.name}.", dir=path.parent.parent))
        ov.save_model(graph, staging / path.name, compress_to_fp16=False)
        try:
            staging.rename(path.parent)
        except OSError:  # another process saved it first
            shutil.rmtree(staging)
    return graph
