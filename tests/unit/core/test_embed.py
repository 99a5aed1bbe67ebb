"""The shared embedding cache: real MiniLM vectors, encoded once, reused across stages."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from pixelated.core.embed import DIMENSION, EmbeddingCache
from pixelated.core.hashing import text_hash


def test_cache_encodes_each_text_once_and_is_shared(tmp_path):
    own = EmbeddingCache(tmp_path / "dedup.parquet")
    vectors = own.encode(["I feel so alone lately.", "I feel so alone lately.", "Let's talk about football."])
    assert vectors.shape == (3, DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[1])
    assert vectors[0] @ vectors[2] < 0.5  # unrelated sentences are far apart
    assert (own.hits, own.misses) == (1, 2)
    own.save()

    reader = EmbeddingCache(tmp_path / "score.parquet", read_only=[tmp_path / "dedup.parquet"])
    again = reader.encode(["I feel so alone lately."])
    assert (reader.hits, reader.misses) == (1, 0)
    assert np.allclose(again[0], vectors[0])


def test_save_keeps_only_texts_in_use_and_is_byte_stable(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.parquet")
    cache.encode(["b text", "a text", "gone"])
    cache.save(keep=cache.keys(["a text", "b text"]))
    first = (tmp_path / "c.parquet").read_bytes()
    reloaded = EmbeddingCache(tmp_path / "c.parquet")
    reloaded.encode(["a text", "b text"])
    assert reloaded.misses == 0
    reloaded.save()
    assert (tmp_path / "c.parquet").read_bytes() == first


def test_backends_key_their_vectors_apart():
    """Issue 14, item 7: switching embed.backend never serves one model's vector for the other,
    and vectors from padded batches (keyed by the bare text hash, or the backend's name without
    the batching) are not mixed with unpadded ones."""
    backends = ("torch", "onnx", "openvino", "openvino_bf16")
    keys = {backend: EmbeddingCache(backend=backend).key("same text") for backend in backends}
    assert len(set(keys.values())) == 4
    padded_era = {text_hash("same text"), text_hash("openvino-f32\x1fsame text")}
    assert not padded_era & set(keys.values())


TEXTS = ["I feel so alone lately.", "My therapist helps a lot.", "Let's talk about football.", "ok"]


def test_openvino_backend_agrees_with_the_float_model_and_is_deterministic():
    """The default backend, float32 OpenVINO, within the adoption bar (cosine >= 0.99,
    bench/embed_bench.py) of float `model.encode`; the same vectors twice."""
    from pixelated.core.embed import encode_sorted, load_encoder, load_model

    encoder = load_encoder("openvino")
    assert encoder.precision == "f32"
    ours = encode_sorted(encoder, TEXTS, batch_size=2)
    reference = load_model().encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (4, DIMENSION)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert ((ours * reference).sum(axis=1) > 0.999).all()
    assert np.array_equal(ours, encode_sorted(encoder, TEXTS, batch_size=2))


def test_default_backend_gives_a_text_the_same_vector_in_any_batch():
    """Unpadded batches (`encode_sorted`): a cache filled a few texts at a time holds the vectors
    a fresh run over all of them computes, bit for bit."""
    from pixelated.core.embed import encode_sorted, load_encoder, token_counts

    encoder = load_encoder("openvino")
    texts = [*TEXTS, "I feel so sad lately.", "My sister helps a lot.", "word " * 300, "ok then", "no"]
    counts = token_counts(encoder, texts)
    assert len(set(counts.tolist())) < len(texts)  # some batches hold several texts
    together = encode_sorted(encoder, texts, batch_size=3)
    alone = np.concatenate([encode_sorted(encoder, [text]) for text in texts])
    assert np.array_equal(together, alone)


def test_openvino_conversion_is_kept_and_read_back_unchanged(tmp_path):
    """Later processes read the saved conversion instead of converting (3 s each); its vectors
    are the in-memory conversion's, bit for bit (weights are saved uncompressed). A fresh
    process that finds it embeds without importing transformers or torch, to the same bits."""
    from pixelated.core.embed import encode_sorted, load_model
    from pixelated.core.embed_backends import OpenVinoEncoder

    model, path = load_model(), tmp_path / "minilm-openvino" / "model.xml"
    in_memory = encode_sorted(OpenVinoEncoder.from_model(model, path), TEXTS, batch_size=2)  # converts, saves
    assert path.is_file() and path.with_suffix(".bin").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["minilm-openvino"]  # no staging folder left
    written = path.stat().st_mtime_ns
    read_back = encode_sorted(OpenVinoEncoder.from_model(model, path), TEXTS, batch_size=2)
    assert path.stat().st_mtime_ns == written  # read back, not converted and saved again
    assert np.array_equal(in_memory, read_back)
    np.save(tmp_path / "expected.npy", in_memory)
    script = f"""
import pathlib, sys
import numpy as np
from pixelated.core import embed
assert embed.converted_path("openvino").parent.name.startswith("minilm-openvino-")
embed.converted_path = lambda backend: pathlib.Path({str(path)!r})
vectors = embed.encode_sorted(embed.load_encoder("openvino"), {TEXTS!r}, 2)
assert np.array_equal(vectors, np.load({str(tmp_path / "expected.npy")!r}))
loaded = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
assert not loaded, loaded
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


def test_offline_tokenizer_gives_the_transformers_ids():
    """Padding to the longest text, truncation at 256 tokens, accents, emoji, empty text."""
    from pixelated.core.embed import load_model, model_path
    from pixelated.core.embed_backends import OfflineTokenizer

    texts = [*TEXTS, "", "Café naïve — I’m 😢 at 3am?!", "word " * 400, "  spaced\tout\n text  "]
    model, offline = load_model(), OfflineTokenizer(model_path())
    reference = model.tokenizer(
        texts, padding=True, truncation=True, max_length=model.max_seq_length, return_tensors="np"
    )
    ours = offline(texts)
    assert offline.max_seq_length == model.max_seq_length == 256
    assert ours["input_ids"].shape[1] == 256
    for name, ids in ours.items():
        assert np.array_equal(ids, reference[name]), name


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_int8_onnx_export_agrees_with_the_float_model(tmp_path):
    from pixelated.core import embed_backends
    from pixelated.core.embed import encode_sorted, load_model

    model = load_model()
    path = embed_backends.export(model, tmp_path / "minilm.onnx", quantize=True)
    encoder = embed_backends.OnnxEncoder(path, model.tokenizer, model.max_seq_length)
    ours = encode_sorted(encoder, TEXTS, batch_size=2)
    reference = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (4, DIMENSION)
    assert ((ours * reference).sum(axis=1) > 0.97).all()


@pytest.mark.parametrize(
    "cap, allowed",
    [("AVX2", False), ("avx512_core", False), ("AVX512_CORE_AMX", True), ("ALL", True), (None, True)],
)
def test_bf16_only_where_the_oneDNN_cap_leaves_bf16_kernels(monkeypatch, cap, allowed):
    """Under the AVX2 pin OpenVINO has no bf16 kernel: a bf16 CPU then runs float32."""
    from pixelated.core.embed_backends import bf16_allowed

    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert bf16_allowed() is allowed
