"""Detection: the span-cache key follows the detector config, overlapping spans merge, the
analyzer starts offline, recognizers skip only texts they cannot match, and a bad `privacy`
section names its key."""

import os
import subprocess
import sys

import pytest

from pixelated.core.config import ConfigError, build_config, read_params
from pixelated.privacy.anonymize import AnonymizeConfig
from pixelated.privacy.cache import span_key
from pixelated.privacy.engine import Span, _analyzer, fingerprint, resolve_overlaps
from pixelated.privacy.privacy_bench import plant
from tests.paths import REPO

PARAMS = REPO / "params.yaml"
ANALYZER = build_config(AnonymizeConfig, read_params(PARAMS)).privacy.analyzer


def test_cache_key_changes_with_the_detector_config():
    changed = ANALYZER.model_copy(update={"score_threshold": 0.9})
    assert span_key(fingerprint(ANALYZER), "hi") != span_key(fingerprint(changed), "hi")


@pytest.mark.parametrize(
    ("key", "value"),
    [("surrogate", "blank"), ("analyzer.score_threshold", 2), ("analyzer.entitys", ["PERSON"])],
)
def test_bad_privacy_config_names_the_key(key, value):
    params = read_params(PARAMS)
    section, *rest = key.split(".")
    target = params["privacy"][section] if rest else params["privacy"]
    target[rest[0] if rest else section] = value
    with pytest.raises(ConfigError, match=f"privacy.{key}"):
        build_config(AnonymizeConfig, params)


def test_overlapping_spans_merge_so_nothing_leaks():
    spans = [Span(0, 11, "PERSON", 0.85), Span(9, 17, "ZIP_CODE", 1.0), Span(30, 40, "URL", 0.5)]
    assert resolve_overlaps(spans) == [Span(0, 17, "PERSON", 0.85), Span(30, 40, "URL", 0.5)]
    inner = [Span(3, 13, "LOCATION", 0.85), Span(0, 13, "STREET_ADDRESS", 0.75)]  # "42 Oak Street"
    assert resolve_overlaps(inner) == [Span(0, 13, "STREET_ADDRESS", 0.75)]


def test_analyzer_starts_and_detects_with_the_network_blocked(tmp_path):
    """A fresh interpreter with sockets disabled: no model hub, no public-suffix-list fetch.
    Detecting and pseudonymizing import neither transformers nor torch (7 s of a worker's
    start), and leave transformers importable."""
    script = tmp_path / "offline.py"
    script.write_text(
        "import socket\n"
        "def refuse(*a, **k):\n    raise OSError('network disabled in test')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
        "from pixelated.core.config import read_params\n"
        "from pixelated.privacy.config import AnalyzerConfig\n"
        "from pixelated.privacy.engine import Detector\n"
        f"cfg = AnalyzerConfig.model_validate(read_params({str(PARAMS)!r})['privacy']['analyzer'])\n"
        "text = 'write to ana.lee@mail.co.uk or visit https://x.example.com'\n"
        "spans = Detector(cfg).detect([text])[0]\n"
        "print(sorted(s.entity for s in spans))\n"
        "from pixelated.privacy.pseudonym import Pseudonymizer\n"
        "print(Pseudonymizer('c1', 'placeholder').apply(text, spans))\n"
        "import importlib.util, sys\n"
        "print(sorted({'transformers', 'torch'} & set(sys.modules)))\n"
        "print(importlib.util.find_spec('transformers') is not None)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        "['EMAIL_ADDRESS', 'URL']",
        "write to <EMAIL_ADDRESS_1> or visit <URL_1>",
        "[]",
        "True",
    ]
    assert "Traceback" not in result.stderr


def _analyzers_loaded(texts: list[str]) -> tuple[int, int]:
    """(worker pid, analyzers this worker has built so far) after detecting in `texts`."""
    from pixelated.privacy import engine

    engine.Detector(ANALYZER).detect(texts)
    return os.getpid(), engine._analyzer.cache_info().misses


def test_each_worker_loads_the_analyzer_once_not_per_batch():
    """Issue 14, item 4: spaCy + Presidio take seconds to load; a worker keeps its analyzer."""
    from pixelated.core.executor import map_batches

    batches = [[f"My name is Anna Smith and I live in Leeds, batch {i}."] for i in range(6)]
    found = list(map_batches(_analyzers_loaded, batches, kind="process", workers=2))
    assert all(loaded == 1 for _, loaded in found)
    assert len({pid for pid, _ in found}) <= 2


def test_recognizers_skip_only_texts_they_cannot_match():
    """Each pattern and phone recognizer is skipped on texts none of its patterns (no digit,
    for phone numbers) can match; on planted PII of every type, and on texts with none, it
    returns what Presidio's own `analyze` returns."""
    carriers = ["I can't sleep and I feel alone.", "Work has been hard, 3 weeks now.", "Hi."]
    texts = [p.text for p in plant(carriers, per_type=8, seed=5)] + carriers
    recognizers = _analyzer(ANALYZER.model, ANALYZER.entities).analyzer_engine.registry.recognizers
    gated = [r for r in recognizers if "analyze" in vars(r)]
    assert {"PhoneRecognizer", "PixelatedAgeRecognizer", "UrlRecognizer"} <= {r.name for r in gated}

    def found(results) -> list[tuple]:
        return [(r.entity_type, r.start, r.end, r.score) for r in results]

    empty = 0
    for recognizer in gated:
        entities = recognizer.supported_entities
        for text in texts:
            fast = found(recognizer.analyze(text, entities, None))
            assert fast == found(type(recognizer).analyze(recognizer, text, entities, None))
            empty += not fast
    assert 0 < empty < len(gated) * len(texts)  # both kinds of text were checked
