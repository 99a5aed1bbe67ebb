"""Hydra composition: params.yaml is what conf/ composes to, and overrides land in it."""

import yaml

from pixelated.core.params import compose
from tests.paths import REPO


def _load(path):
    return yaml.safe_load(path.read_text())


def test_params_yaml_is_composed_from_conf(tmp_path):
    composed = compose(tmp_path / "params.yaml", root=REPO)
    assert _load(composed) == _load(REPO / "params.yaml"), (
        "run `python -m pixelated.core.params` after editing conf/"
    )


def test_override_reaches_params(tmp_path):
    composed = _load(
        compose(tmp_path / "params.yaml", ["filter_length.max_turns=40", "executor=process"], root=REPO)
    )
    assert composed["filter_length"]["max_turns"] == 40
    assert composed["executor"]["kind"] == "process"
    assert composed["filter_length"]["min_turns"] == 2


def test_spec_defaults():
    params = _load(REPO / "params.yaml")
    assert (params["filter_length"]["min_turns"], params["filter_length"]["max_turns"]) == (2, 50)
    assert 1000 <= params["executor"]["batch_size"] <= 5000
    assert set(params["sources"]) == {
        "esconv_failed",
        "esconv_multiesc",
        "counsel_chat",
        "mi_counselchat",
        "empathetic_intents",
        "hope_sample",
    }
