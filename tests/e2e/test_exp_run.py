"""A training param touches only train and evaluate: params.yaml composed from conf/ with the
override, as `dvc exp run -S` composes it, then `dvc repro --dry` names the stages it would run.
A real `dvc exp run -S` (of a quality param, which reruns select and everything after it) makes
test_versioning's second data version; evaluate's outputs are checked on the sample run."""

import json
import sys

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
    models = {"finetuned", "pretrained", "tfidf", "ablation_uncurated"}
    folds = yaml.safe_load((root / "params.yaml").read_text())["split"]["cv_folds"]
    assert set(evaluation["test"]) >= models and evaluation["cv"]["folds"] == folds
    plots = json.loads(run_ok(["dvc", "plots", "show", "--json"], root, env))["data"]
    assert plots["Recall@k on test"] and plots["Training curve"] and plots["reports/plots/train_curve.csv"]
