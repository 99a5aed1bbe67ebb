"""Issue 17, item 11: the CI job that runs a pull request's code holds no write token."""

from __future__ import annotations

import yaml

from tests.paths import REPO

WORKFLOW = REPO / ".github" / "workflows" / "review.yml"


def runs_pr_code(job: dict) -> bool:
    return any("dvc repro" in step.get("run", "") for step in job["steps"])


def test_job_running_pr_code_is_read_only_and_leaves_no_credentials():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {}, "no write scope may be inherited from the top level"
    jobs = workflow["jobs"]
    untrusted = [name for name, job in jobs.items() if runs_pr_code(job)]
    assert untrusted
    for name in untrusted:
        assert set(jobs[name]["permissions"].values()) == {"read"}, name
        checkouts = [s for s in jobs[name]["steps"] if s.get("uses", "").startswith("actions/checkout")]
        assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts), name
    writers = [name for name, job in jobs.items() if "write" in job.get("permissions", {}).values()]
    assert writers, "the comment is posted by a job of its own"
    for name in writers:
        assert name not in untrusted
        assert jobs[name]["needs"] in untrusted, "it publishes the artifact of the job that ran the PR"
