"""Fine-tune on the Hugging Face export, as a downstream user of the dataset would.

Loads data/export/hf with `datasets.load_from_disk`, turns each conversation into (seeker
context -> helper reply) pairs with the train stage's own pair builder, and fine-tunes MiniLM
with the train stage's recipe (in-batch negatives, early stopping on validation recall@1).
The recipe comes from params.yaml's `train` section, capped here to a few steps so that it
runs in a minute on a CPU; raise --pairs and --epochs on a GPU.

    python examples/finetune_from_hf.py .
"""

from __future__ import annotations

from pathlib import Path

import datasets
from _common import parser, stage_path

from pixelated.core.config import build_config, read_params
from pixelated.modeling.finetune import fit
from pixelated.modeling.retrieval import pairs_from_batch, sample_rows
from pixelated.modeling.train import TrainStageConfig

OUTPUT = "models/finetuned_from_hf"


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--output", type=Path, help=f"model folder (default: repo/{OUTPUT}, git-ignored)")
    cli.add_argument("--pairs", type=int, default=16, help="training pairs (default: 16)")
    cli.add_argument("--epochs", type=int, default=1)
    args = cli.parse_args()
    export = datasets.load_from_disk(str(stage_path(args.repo, "export", "--output") / "hf"))
    print({split: export[split].num_rows for split in export}, "conversations")

    train = build_config(TrainStageConfig, read_params(args.repo / "params.yaml")).train
    cfg = train.model_copy(
        update={
            "max_pairs": args.pairs,
            "epochs": args.epochs,
            "batch_size": 8,
            "max_seq_length": 32,
            "val_max_queries": 32,
        }
    )

    def pairs(split: str, per_conversation: int):
        return pairs_from_batch(
            export[split].to_pandas(),
            context_turns=cfg.context_turns,
            min_response_words=cfg.min_response_words,
            per_conversation=per_conversation,
            seed=cfg.seed,
        )

    train_pairs = sample_rows(pairs("train", cfg.pairs_per_conversation), cfg.max_pairs, cfg.seed)
    val_pairs = sample_rows(pairs("validation", 1), cfg.val_max_queries, cfg.seed)
    print(f"{len(train_pairs)} training pairs, {len(val_pairs)} validation queries")
    output = args.output or args.repo / OUTPUT
    model, history = fit(train_pairs, val_pairs, cfg)
    model.save(str(output))
    for row in history:  # epoch 0 is the model before fine-tuning
        print({key: round(value, 4) if isinstance(value, float) else value for key, value in row.items()})
    print(f"best epoch's model: {output}")


if __name__ == "__main__":
    main()
