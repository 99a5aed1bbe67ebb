"""`dvc exp run -S` reruns only the stages a change touches, in a copy of the session's sample run
(its conf/ holds the sample size, so experiments keep it). The experiments run one after another
in the same copy; each starts from the committed sample run, restored by git and `dvc checkout`
in seconds (a `dvc repro` back to the defaults would rerun every stage the last experiment did:
the stages write untracked reports, so DVC's run cache cannot restore them). An experiment on a
filter param, which reruns the most stages, makes test_versioning's second data version."""

import json

import pyarrow.parquet as pq
import pytest
import yaml

from tests.e2e.conftest import copy_run, stages_run
from tests.e2e.conftest import run_ok as _run


@pytest.fixture(scope="module")
def clone(sample_run, tmp_path_factory):
    """A copy of the sample run with its reproduced workspace committed: the experiments' baseline."""
    root, env = copy_run(sample_run, tmp_path_factory.mktemp("clone"))
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "sample run"], root, env)
    return root, env


def _baseline(root, env) -> None:
    """Back to the committed sample run: params, dvc.lock and reports from git, data from DVC."""
    _run(["git", "reset", "-q", "--hard"], root, env)
    _run(["dvc", "checkout", "-q", "--force"], root, env)


def _exp_run(root, env, override: str) -> set[str]:
    """`dvc exp run -S override` from the baseline; the stages it ran."""
    _baseline(root, env)
    return stages_run(_run(["dvc", "exp", "run", "-S", override], root, env))


def test_exp_run_quality_threshold_reruns_only_select_and_after(clone):
    root, env = clone
    _baseline(root, env)
    before = json.loads((root / "reports" / "ledger" / "select.json").read_text())
    # a threshold the sample's kept conversations straddle: about a quarter of them fall below it
    kept = sorted(pq.read_table(root / "data" / "interim" / "selected.parquet").column("quality").to_pylist())
    ran = _exp_run(root, env, f"quality.min_score={kept[len(kept) // 4]}")
    assert ran == {"select", "split", "export", "train", "evaluate", "report"}
    after = json.loads((root / "reports" / "ledger" / "select.json").read_text())
    assert after["rows_in"] == before["rows_in"] and after["rows_out"] < before["rows_out"]
    quality = json.loads((root / "reports" / "quality.json").read_text())
    assert quality["agreement"]["rejected_vs_accepted"]["auc"] is not None


def test_training_param_reruns_only_train_and_evaluate(clone):
    root, env = clone
    # report too: the headline metric carries recall@1
    assert _exp_run(root, env, "train.learning_rate=5.0e-05") == {"train", "evaluate", "report"}
    evaluation = json.loads((root / "reports" / "eval.json").read_text())
    models = {"finetuned", "pretrained", "tfidf", "ablation_uncurated"}
    folds = yaml.safe_load((root / "params.yaml").read_text())["split"]["cv_folds"]
    assert set(evaluation["test"]) >= models and evaluation["cv"]["folds"] == folds
    plots = json.loads(_run(["dvc", "plots", "show", "--json"], root, env))["data"]
    assert plots["Recall@k on test"] and plots["Training curve"] and plots["reports/plots/train_curve.csv"]
