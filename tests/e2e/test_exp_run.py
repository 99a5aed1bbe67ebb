"""A training param touches only train and evaluate: params.yaml composed from conf/ with the
override, as `dvc exp run -S` composes it, then `dvc repro --dry` names the stages it would run.
A real `dvc exp run -S` (of a quality param, which reruns select and everything after it) makes
test_versioning's second data version; evaluate's outputs are checked on the sample run."""

import json
import sys

import pytest
import yaml

from tests.e2e.conftest import copy_run, run_ok, stages_run


def test_training_param_touches_only_train_and_evaluate(sample_run, tmp_path):
    root, env = copy_run(sample_run, tmp_path)
    run_ok([sys.executable, "-m", "pixelated.core.params", "train.learning_rate=5.0e-05"], root, env)
    assert yaml.safe_load((root / "params.yaml").read_text())["train"]["learning_rate"] == 5.0e-05
    # a dry run lists the stages whose own deps changed; report follows evaluate's new metrics
    assert stages_run(run_ok(["dvc", "repro", "--dry"], root, env)) == {"train", "evaluate"}


def test_evaluation_reports_every_model_and_the_plots(sample_run):
    root, env = sample_run.root, sample_run.env
    evaluation = json.loads((root / "reports" / "eval.json").read_text())
    models = {"finetuned", "pretrained", "tfidf"}
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert set(evaluation["test"]) >= models and evaluation["cv"]["folds"] == params["split"]["cv_folds"]
    assert_curation_ablation(evaluation, params)
    plots = json.loads(run_ok(["dvc", "plots", "show", "--json"], root, env))["data"]
    assert plots["Recall@k on test"] and plots["Training curve"] and plots["reports/plots/train_curve.csv"]


def assert_curation_ablation(evaluation: dict, params: dict) -> None:
    """Every arm ran under every seed on both test splits, the curated one being the headline
    test split; the random subset has the curated arm's size; the gain is the paired one."""
    ablation, seeds = evaluation["ablation"], params["evaluate"]["ablation"]["seeds"]
    assert ablation["budget"] == {
        "pairs": params["train"]["max_pairs"],
        "epochs": params["train"]["epochs"],
        "seeds": seeds,
        "early_stopping": False,
    }
    curated, uncurated = ablation["curated"], ablation["uncurated"]
    assert curated["queries"] == evaluation["test"]["queries"]
    assert uncurated["queries"] == curated["queries"] + ablation["added_test_queries"]
    pools = ablation["pool_conversations_per_seed"]
    assert pools["random_subset"] == pools["curated"] and pools["passed_dedup"][0] >= pools["curated"][0]
    for split in (curated, uncurated):
        for arm in ("curated", "random_subset", "passed_dedup"):
            recall = split[arm]["recall_at_1"]
            assert len(recall["per_seed"]) == len(seeds)
            assert recall["ci95"][0] <= recall["mean"] <= recall["ci95"][1]
        gain = split["curation_gain"]["vs_random_subset"]["recall_at_1"]["mean"]
        assert gain == pytest.approx(
            split["curated"]["recall_at_1"]["mean"] - split["random_subset"]["recall_at_1"]["mean"], abs=2e-4
        )
    assert (
        evaluation["curation_gain_recall_at_1"]
        == curated["curation_gain"]["vs_random_subset"]["recall_at_1"]["mean"]
    )
