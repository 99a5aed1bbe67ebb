"""Issue 14, item 8: long loops show a bar with a rate and an ETA and log one line per batch,
counts only; embedding in batches gives the vectors one `encode` call gives."""

import logging

import numpy as np

from pixelated.core.embed import encode_sorted
from pixelated.core.progress import Progress, progress


def test_progress_logs_one_line_per_batch_with_counts_and_rate(caplog):
    batches = [["a secret text"] * 3, ["another"] * 2]
    with caplog.at_level(logging.INFO, logger="pixelated.progress"):
        assert list(progress(batches, "demo", total=5, unit="conv")) == batches
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("demo: batch 1, 3/5 conv (") and "conv/s" in lines[0]
    assert lines[1].startswith("demo: batch 2, 5/5 conv")
    assert not any("secret" in line for line in lines)


def test_progress_every_n_batches_still_logs_the_end(caplog):
    with caplog.at_level(logging.INFO, logger="pixelated.progress"), Progress("x", log_every=4) as bar:
        for _ in range(5):
            bar.update(10)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "x: batch 4, 40 rows",
        "x: batch 5, 50 rows",
    ]


class _Model:
    """Stands in for a SentenceTransformer: records its batches, vector = (length, first char),
    a token per character."""

    max_seq_length = 4

    def __init__(self):
        self.calls = []

    def tokenizer(self, texts, max_length, **_):
        return {"attention_mask": np.array([min(len(t), max_length) for t in texts])[:, None]}

    def encode(self, texts, batch_size, **_):
        self.calls.append(list(texts))
        return np.array([[len(t), ord(t[0]) if t else 0] for t in texts], np.float32)


def test_encode_sorted_keeps_input_order_and_batches_one_token_count_longest_first():
    texts = ["bb", "a", "dddd", "cccccc", "", "ee", "fff"]
    model = _Model()
    out = encode_sorted(model, texts, batch_size=2)
    assert out[:, 0].tolist() == [len(t) for t in texts]
    # "cccccc" is cut at 4 tokens, so it shares a batch with "dddd"; ties keep the input order
    assert model.calls == [["dddd", "cccccc"], ["fff"], ["bb", "ee"], ["a"], [""]]
