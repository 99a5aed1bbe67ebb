"""Data versions: backup, verify, restore, review and model rollback.

A data version is a git revision. Its `dvc.lock` names every output by content hash, so
backing up means pushing those objects to a DVC remote, and restoring means checking out the
revision's pipeline files and pulling the objects it names. DVC does the transfers; this
package adds what it leaves implicit: an explicit list of what the remote lacks, a re-hash of
every object before it is used (a corrupted object is an error, never silently checked out),
a markdown review of two versions for pull requests, and pointing the MLflow registered model
back at the version trained on a given data version.

Modules: `repo` (git and dvc.lock), `remote` (object checks, verify, backup), `mlflow_store`
(snapshot and restore of the MLflow store), `restore`, `review`, `rollback`, `cli`.
CLI: `python -m pixelated.versioning {backup,verify,restore,restore-mlflow,review,rollback}`.
Remote credentials come from the environment only (for S3: AWS_ACCESS_KEY_ID, ...).
"""
