"""evaluate: recall@k and MRR on the test split for the fine-tuned model, the un-tuned MiniLM
and TF-IDF; fairness by group; CV folds; the curation ablation (curated vs a random subset of
the same size vs everything that passed dedup, several seeds, two test splits)."""

from pixelated.core.config import load_config
from pixelated.core.runner import stage_args
from pixelated.modeling import evaluate


def main() -> None:
    paths, params = stage_args(__doc__, evaluate.EvaluatePaths)
    evaluate.run(load_config(evaluate.EvaluateStageConfig, params), paths)


if __name__ == "__main__":
    main()
