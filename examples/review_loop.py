"""The clinician review loop end to end: review set, verdicts, select again.

`dvc repro select` writes the review set: data/review/review.html, the page a clinician works
in, and review.csv (a 1% sample plus every crisis flag and safety drop). The page exports the
verdicts as a CSV; here two verdicts stand in for that export, in exactly its format: the
gates' first drop is kept and their first keep is dropped. Saved as reviews/verdicts.csv, they
override the gates on the next `dvc repro select`, which this checks. It edits
reviews/verdicts.csv: run it in a clone, or review the verdicts before committing them.

    python examples/review_loop.py .
"""

from __future__ import annotations

import sys

import pandas as pd
from _common import parser, run, stage_path

from pixelated.selection.gates import VERDICT_COLUMNS


def reviewed(review: pd.DataFrame) -> pd.DataFrame:
    """What a clinician might decide: the first automatic drop kept, the first keep dropped
    (sampled ones first: overriding a crisis flag is not what an example should show)."""
    review = review.sort_values("review_reason", key=lambda reason: reason != "sample", kind="stable")
    dropped = review[review["auto_decision"] != "keep"].head(1).assign(verdict="keep")
    kept = review[review["auto_decision"] == "keep"].head(1).assign(verdict="drop")
    verdicts = pd.concat([dropped, kept]).assign(
        reviewer="Dr Example", note="automatic score wrong: checked by hand"
    )
    return verdicts[list(VERDICT_COLUMNS)]


def main() -> None:
    repo = parser(__doc__).parse_args().repo
    run(["dvc", "repro", "select"], repo)
    review = pd.read_csv(stage_path(repo, "select", "--review") / "review.csv", dtype={"verdict": str})
    print(f"\nreview set: {len(review)} conversations, by reason:")
    print(review["review_reason"].value_counts().to_string())
    new = reviewed(review)
    if new.empty:
        sys.exit("the review set has no conversation to override")

    # the page's export: every verdict, earlier ones included, sorted by conversation
    path = stage_path(repo, "select", "--verdicts")
    earlier = pd.read_csv(path, dtype=str, keep_default_na=False)
    verdicts = pd.concat([earlier[~earlier["conversation_id"].isin(new["conversation_id"])], new])
    verdicts.sort_values("conversation_id").to_csv(path, index=False)
    print(f"\n{path.relative_to(repo)}:\n{path.read_text()}")
    run(["dvc", "repro", "select"], repo)

    selected = pd.read_parquet(
        stage_path(repo, "select", "--output"), columns=["conversation_id", "decision_source"]
    )
    source = selected.set_index("conversation_id")["decision_source"]
    wrong = 0
    for row in new.itertuples():
        now = "kept" if row.conversation_id in source.index else "dropped"
        wrong += now != {"keep": "kept", "drop": "dropped"}[row.verdict]
        print(f"{row.conversation_id}: reviewer said {row.verdict}, select {now} it "
              f"({source.get(row.conversation_id, 'review_rejected')})")  # fmt: skip
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
