"""Could a learned crisis detector beat the lexicon out of sample? Measured on the development
sets only (issue 13).

Every method is scored out of fold on the distinct labelled turns of the three development
sets (crisis_turns.csv and the two spent frozen sets): 5 folds stratified and grouped by
conversation, 3 seeds, metrics averaged over seeds. The third frozen set is never read: it
stays blind for whatever detector comes next.

- `embedding_lr`: MiniLM embedding of the turn, class-balanced logistic regression.
- `prototypes`: no fitting; the highest cosine between any sentence of the turn and the
  first-person crisis statements in PROTOTYPES (written from the C-SSRS and abuse-screening
  wording, not from the labelled turns).
- `finetune`: MiniLM fine-tuned with a classification head (mean pooling, class-weighted
  loss, 6 epochs). On a GPU this takes minutes; on 2 CPU cores well over an hour per seed.
- `lexicon`: the pipeline's detector (`crisis.crisis_kinds`). It was tuned on these very
  sets, so its figures here are optimistic; its blind figures are in reports/quality.json.

Each scored method reports ROC AUC, precision and recall at 0.5, precision at recall 0.90 and
recall at precision 0.90. The last two pick the threshold with hindsight, so they bound what
the method could reach at the issue's target (recall and precision >= 0.90) from above.

    python -m bench.crisis_learned --table data/interim/anonymized.parquet
    python -m bench.crisis_learned --table ... --save-prepared /tmp/dev.json --methods lexicon
    python -m bench.crisis_learned --prepared /tmp/dev.json --model DIR --methods finetune

The prepared file holds real turn text: keep it out of the repository. A run updates only the
blocks of the methods it ran in bench/results/crisis_learned.json; the fine-tune's block names
the device it ran on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from bench import command_line

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "crisis_learned.json"
DEV_SETS = ("dev", "first_frozen", "second_frozen")  # never "test", the third frozen set
SEEDS = (0, 1, 2)
FOLDS = 5
TARGET = 0.90
FINETUNE = {"max_length": 512, "epochs": 6, "lr": 3e-5, "batch_size": 16, "warmup": 0.1}

PROTOTYPES = {
    "suicide": [
        "I want to die", "I want to kill myself", "I have been thinking about suicide",
        "I don't want to live anymore", "I wish I was dead",
        "I wish I could go to sleep and never wake up",
        "everyone would be better off without me", "I have thought about ending my life",
        "I tried to kill myself", "I attempted suicide", "I have a plan to end it",
        "I don't see the point in living", "I feel like ending it all",
        "life is not worth living", "I think about taking all my pills",
        "I have suicidal thoughts", "I would rather be dead",
    ],
    "self_harm": [
        "I cut myself", "I have been cutting my arms", "I hurt myself when I am upset",
        "I burn myself", "I started self harming again", "I hit myself when I am angry",
        "I scratch my skin until it bleeds", "I relapsed and cut again",
        "I punish myself by hurting my body", "I have scars from cutting",
    ],
    "harm_to_others": [
        "I want to kill him", "I feel like hurting someone", "I have thoughts of hurting my child",
        "I am afraid I will hit my wife", "I get so angry I want to hurt people",
        "I have urges to kill people",
    ],
    "abuse": [
        "my husband hits me", "my boyfriend beats me", "my father abused me when I was a child",
        "I was sexually abused", "I was raped", "my partner hurts me physically",
        "my mother used to beat me", "he forced me to have sex",
        "my wife is emotionally abusive to me", "he threatens to kill me",
        "I am in an abusive relationship", "my stepfather molested me",
        "my parents hit me and call me worthless",
        "he controls everything I do and isolates me from my friends",
        "she screams at me and throws things at me", "I was assaulted",
    ],
    "medical_emergency": ["I took an overdose", "I swallowed a bottle of pills", "I can't breathe"],
}  # fmt: skip


def prepare(table: Path, labels: Path) -> list[dict]:
    """The development sets' distinct labelled turns: text, crisis label, conversation and the
    lexicon's verdict (computed here, where the package is installed)."""
    from pixelated.core.tableio import read_batches
    from pixelated.scoring import crisis, crisis_eval

    sets = crisis_eval.load(labels)
    frames = [getattr(sets, name) for name in DEV_SETS]
    wanted = {
        (c, int(i)) for f in frames for c, i in zip(f["conversation_id"], f["turn_index"], strict=True) if c
    }
    texts = crisis_eval.labelled_texts(read_batches(table, 2000), wanted)
    rows, seen = [], set()
    for frame in frames:
        found, _ = crisis_eval.label_texts(frame, texts)
        truth = crisis_eval.is_crisis(frame).to_numpy()
        for text, crisis_turn, cid in zip(found, truth, frame["conversation_id"], strict=True):
            if text is None or text in seen:
                continue
            seen.add(text)
            group = cid or f"written-{len(rows)}"
            lexicon = bool(crisis.crisis_kinds(text))
            rows.append({"text": text, "crisis": int(crisis_turn), "group": group, "lexicon": int(lexicon)})
    return rows


def out_of_fold(y: np.ndarray, groups: list[str], fit_and_score) -> list[np.ndarray]:
    """Per seed, each turn's score from `fit_and_score(train, test, fold_seed)`, a model fitted
    on the other folds (stratified, grouped by conversation)."""
    scores = []
    for seed in SEEDS:
        score = np.zeros(len(y))
        splits = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed).split(y, y, groups)
        for fold, (train, test) in enumerate(splits):
            score[test] = fit_and_score(train, test, seed * FOLDS + fold)
        scores.append(score)
    return scores


def precision_at_recall(y: np.ndarray, score: np.ndarray, recall: float) -> float:
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(y[order])
    k = int(np.searchsorted(hits, np.ceil(recall * y.sum())))
    return float(hits[k] / (k + 1))


def recall_at_precision(y: np.ndarray, score: np.ndarray, precision: float) -> float:
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(y[order])
    ok = hits / np.arange(1, len(y) + 1) >= precision
    return float(hits[ok].max() / y.sum()) if ok.any() else 0.0


def at(y: np.ndarray, predicted: np.ndarray) -> dict:
    tp = int((y & predicted).sum())
    return {"precision": round(tp / max(1, predicted.sum()), 4), "recall": round(tp / y.sum(), 4)}


def scored(y: np.ndarray, scores: list[np.ndarray], lexicon: np.ndarray) -> dict:
    """Out-of-fold metrics of each seed's scores, averaged over seeds, with what the method
    would add to the lexicon at 0.5: crisis turns it misses, and false alarms."""
    per_seed = [
        {
            "auc": roc_auc_score(y, s),
            **{f"{k}_at_0.5": v for k, v in at(y, s >= 0.5).items()},
            "precision_at_recall_0.90": precision_at_recall(y, s, TARGET),
            "recall_at_precision_0.90": recall_at_precision(y, s, TARGET),
            "adds_to_lexicon_at_0.5_crisis": int((y & (s >= 0.5) & ~lexicon).sum()),
            "adds_to_lexicon_at_0.5_false_alarms": int((~y & (s >= 0.5) & ~lexicon).sum()),
        }
        for s in scores
    ]
    return {k: round(float(np.mean([m[k] for m in per_seed])), 4) for k in per_seed[0]}


def sentences(text: str) -> list[str]:
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 3]
    return parts or [text]


def embedding_lr(rows: list[dict], model, y: np.ndarray) -> list[np.ndarray]:
    x = model.encode([r["text"] for r in rows], batch_size=64, normalize_embeddings=True)

    def fit_and_score(train, test, _):
        fitted = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(x[train], y[train])
        return fitted.predict_proba(x[test])[:, 1]

    return out_of_fold(y, [r["group"] for r in rows], fit_and_score)


def prototype_similarity(rows: list[dict], model) -> np.ndarray:
    """The highest cosine of any sentence of each turn to any crisis statement."""
    owner, parts = zip(*[(i, s) for i, r in enumerate(rows) for s in sentences(r["text"])], strict=True)
    statements = [s for kind in PROTOTYPES.values() for s in kind]
    vectors = model.encode(list(parts), batch_size=64, normalize_embeddings=True)
    similarity = (vectors @ model.encode(statements, normalize_embeddings=True).T).max(axis=1)
    best = np.full(len(rows), -1.0)
    np.maximum.at(best, np.array(owner), similarity)
    return best


def schedule(steps: int, warmup: float):
    """Linear warm-up over the first `warmup` share of steps, then linear decay to 0."""
    warm = warmup * steps
    return lambda step: min(1.0, (step + 1) / warm) * max(0.0, (steps - step) / steps)


def finetune(rows: list[dict], model_dir: Path, y: np.ndarray) -> list[np.ndarray]:
    """Out-of-fold probabilities of a fine-tuned MiniLM classifier, one array per seed."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts, groups, cfg = [r["text"] for r in rows], [r["group"] for r in rows], FINETUNE

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(model_dir, dtype=torch.float32)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 2)

        def forward(self, index):
            batch = tokenizer([texts[i] for i in index], padding=True, truncation=True,
                              max_length=cfg["max_length"], return_tensors="pt")  # fmt: skip
            batch = {k: v.to(device) for k, v in batch.items()}
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            return self.head((hidden * mask).sum(1) / mask.sum(1))

    def fitted(train: np.ndarray, seed: int) -> Classifier:
        torch.manual_seed(seed)
        order_rng = np.random.default_rng(seed)
        model = Classifier().to(device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.01)
        steps = cfg["epochs"] * -(-len(train) // cfg["batch_size"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule(steps, cfg["warmup"]))
        balance = float((~y[train]).sum() / y[train].sum())
        loss = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, balance], device=device))
        labels = torch.tensor(y.astype(np.int64), device=device)
        model.train()
        for _ in range(cfg["epochs"]):
            order = order_rng.permutation(train)
            for i in range(0, len(order), cfg["batch_size"]):
                index = order[i : i + cfg["batch_size"]]
                optimiser.zero_grad()
                loss(model(index), labels[index]).backward()
                optimiser.step()
                scheduler.step()
        return model.eval()

    def fit_and_score(train, test, seed):
        model = fitted(train, seed)
        with torch.no_grad():
            batches = [model(test[i : i + 64]) for i in range(0, len(test), 64)]
            return torch.softmax(torch.cat(batches), -1)[:, 1].cpu().numpy()

    return out_of_fold(y, groups, fit_and_score)


def run(rows: list[dict], methods: list[str], model_dir: Path) -> dict:
    y = np.array([r["crisis"] for r in rows], dtype=bool)
    lexicon = np.array([r["lexicon"] for r in rows], dtype=bool)
    where = {"turns": len(rows), "crisis": int(y.sum())}
    blocks = {}
    if "lexicon" in methods:
        blocks["lexicon"] = {**at(y, lexicon), "note": "tuned on these sets: optimistic"}
    if {"embedding_lr", "prototypes"} & set(methods):
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu")
        if "embedding_lr" in methods:
            blocks["embedding_lr"] = scored(y, embedding_lr(rows, model, y), lexicon)
        if "prototypes" in methods:
            similarity = prototype_similarity(rows, model)
            block = scored(y, [similarity], lexicon)  # a cosine has no 0.5 operating point
            blocks["prototypes"] = {k: v for k, v in block.items() if "0.5" not in k}
    if "finetune" in methods:
        import torch

        device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
        block = scored(y, finetune(rows, model_dir, y), lexicon)
        blocks["finetune"] = {**block, "config": FINETUNE, "device": device}
    return {name: {**block, **where} for name, block in blocks.items()}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--table", type=Path, help="the anonymized conversation table")
    parser.add_argument("--labels", type=Path, default=REPO / "data" / "labels")
    parser.add_argument("--prepared", type=Path, help="read the turns from this file, not --table")
    parser.add_argument("--save-prepared", type=Path, help="write the turns here (real text)")
    parser.add_argument("--model", type=Path, help="MiniLM's folder (default: the pinned package)")
    parser.add_argument("--methods", nargs="+", default=["lexicon", "embedding_lr", "prototypes"],
                        choices=["lexicon", "embedding_lr", "prototypes", "finetune"])  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = json.loads(args.prepared.read_text()) if args.prepared else prepare(args.table, args.labels)
    if args.save_prepared:
        args.save_prepared.write_text(json.dumps(rows))
    if args.model is None:
        from pixelated.core.embed import model_path

        args.model = model_path()
    results = json.loads(args.output.read_text()) if args.output.exists() else {}
    results.update(run(rows, args.methods, args.model))
    results["what"] = __doc__.split("\n\n")[0].replace("\n", " ")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(dict(sorted(results.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
