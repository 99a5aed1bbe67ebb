"""MiniLM through ONNX Runtime, optionally int8-quantized: the `embed.backend: onnx` path.

sentence-transformers' own `backend="onnx"` needs optimum, whose current release pins
transformers 4.x (this project runs 5.x), so the graph is exported here with
`torch.onnx.export` from the offline model files and quantized with ONNX Runtime's dynamic
int8 quantizer. Nothing is downloaded. `OnnxEncoder.encode` takes the arguments
`SentenceTransformer.encode` takes, so `embed.encode_sorted` drives either.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pixelated.core.atomic import atomic_path

log = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export(model, path: Path, quantize: bool = True) -> Path:
    """Write `model`'s transformer (a SentenceTransformer) as ONNX at `path`, int8 weights
    when `quantize`; pooling and normalization stay in numpy (`OnnxEncoder`)."""
    import torch

    class Hidden(torch.nn.Module):
        """The transformer's last hidden state from three plain tensors (a traceable signature)."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    bert = Hidden(model[0].auto_model).eval()
    sample = model.tokenizer(["an example", "a longer example text"], padding=True, return_tensors="pt")
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


class OnnxEncoder:
    """Mean-pooled, L2-normalized sentence vectors from an exported MiniLM graph."""

    def __init__(self, path: Path, tokenizer, max_seq_length: int, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.wanted = {i.name for i in self.session.get_inputs()}

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
            feed = {k: v.astype(np.int64) for k, v in tokens.items() if k in self.wanted}
            hidden = self.session.run(None, feed)[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            if normalize_embeddings:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out.append(pooled.astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, 384), np.float32)
