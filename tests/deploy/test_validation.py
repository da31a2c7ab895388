"""Every overlay renders, every object is valid for the pinned Kubernetes version, and checkov
finds nothing but the skips annotated with a reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.render import OVERLAYS, Obj, find, render
from tests.deploy.tools import run, tool

# The oldest version the manifests promise to work on (EKS and minikube both offer it).
KUBERNETES_VERSION = "1.30.0"

BROKEN_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: careless
  namespace: default
spec:
  selector:
    matchLabels: {app: careless}
  template:
    metadata:
      labels: {app: careless}
    spec:
      containers:
        - name: app
          image: nginx:latest
          securityContext:
            privileged: true
"""


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("kubernetes-validate"), "-k", KUBERNETES_VERSION, "--strict", "--quiet", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_objects_are_valid_for_the_pinned_kubernetes(
    overlay: str, rendered_files: dict[str, Path]
) -> None:
    done = validate(rendered_files[overlay])
    assert done.returncode == 0, done.stdout + done.stderr


def test_validator_rejects_an_unknown_field(tmp_path: Path) -> None:
    typo = yaml.safe_load(BROKEN_DEPLOYMENT)
    typo["spec"]["replicaz"] = 2
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(typo))
    done = validate(path)
    assert done.returncode != 0 and "replicaz" in done.stdout + done.stderr


def _checkov(directory: Path) -> list[dict[str, Any]]:
    # --skip-download: offline, no calls home (this machine has no network but the registries).
    out = run(
        "checkov",
        "-d",
        str(directory),
        "--framework",
        "kubernetes",
        "--skip-download",
        "--soft-fail",  # findings are judged below, where the canary's are expected
        "-o",
        "json",
        timeout_s=600,
    )
    report = json.loads(out)
    return report if isinstance(report, list) else [report]


def test_checkov_passes_every_overlay_and_catches_a_careless_deployment(
    rendered: dict[str, list[Obj]], rendered_files: dict[str, Path], tmp_path: Path
) -> None:
    for name, path in rendered_files.items():
        (tmp_path / f"{name}.yaml").write_text(path.read_text())
    # A canary in the same run shows the checks are live, not silently empty.
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "careless.yaml").write_text(BROKEN_DEPLOYMENT)
    [report] = _checkov(tmp_path)
    results = report["results"]
    assert report["summary"]["parsing_errors"] == 0
    failed = [r for r in results["failed_checks"] if "canary" not in r["file_path"]]
    canary = {r["check_id"] for r in results["failed_checks"] if "canary" in r["file_path"]}
    assert not failed, "\n".join(
        f"{r['check_id']} {r['resource']}: {r['check_name']}" for r in failed
    )
    assert {"CKV_K8S_16", "CKV_K8S_14", "CKV_K8S_21"} <= canary  # privileged, latest, default ns
    passed = [r for r in results["passed_checks"] if "canary" not in r["file_path"]]
    assert len(passed) > 500
    # Checkov's JSON drops the reasons of Kubernetes skips: read them from the annotations.
    reasons = {
        (
            f"{o['kind']}.{o['metadata'].get('namespace', 'default')}.{o['metadata']['name']}",
            check,
        ): why
        for objects in rendered.values()
        for o in objects
        for key, value in o["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
        for check, _, why in [value.partition("=")]
    }
    assert all(len(why) > 30 for why in reasons.values()), reasons
    skipped = {(r["resource"], r["check_id"]) for r in results["skipped_checks"]}
    assert skipped <= set(reasons), skipped - set(reasons)


def test_components_each_replace_their_store_with_a_managed_service(
    manifests: Path,
) -> None:
    stores = {"external-redis": "redis", "external-s3": "minio", "external-mongodb": "mongodb"}
    egress = {"redis": "tandem-to-redis", "minio": "tandem-to-s3", "mongodb": "tandem-to-mongodb"}
    for component, store in stores.items():
        variant = manifests / "variants" / component
        variant.mkdir(parents=True)
        (variant / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": ["../../base"],
                    "components": [f"../../components/{component}"],
                }
            )
        )
        objects = render(variant)
        names = {(o["kind"], o["metadata"]["name"]) for o in objects}
        assert ("StatefulSet", store) not in names and ("Service", store) not in names
        others = set(stores.values()) - {store}
        assert all(("StatefulSet", other) in names for other in others)
        [policy] = find(objects, "NetworkPolicy", egress[store])
        assert "ipBlock" in policy["spec"]["egress"][0]["to"][0]


def test_eks_gives_any_store_kept_in_the_cluster_encrypted_gp3_volumes(manifests: Path) -> None:
    kustomization = manifests / "overlays" / "eks" / "kustomization.yaml"
    config: dict[str, Any] = yaml.safe_load(kustomization.read_text())
    config["components"] = [c for c in config["components"] if not c.endswith("external-mongodb")]
    variant = manifests / "overlays" / "eks-with-mongodb"
    variant.mkdir()
    for file in kustomization.parent.iterdir():
        (variant / file.name).write_text(file.read_text())
    (variant / "kustomization.yaml").write_text(yaml.safe_dump(config))
    objects: list[Obj] = render(variant)
    [mongodb] = find(objects, "StatefulSet", "mongodb")
    claim = mongodb["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "tandem-gp3"
    [storage_class] = find(objects, "StorageClass", "tandem-gp3")
    assert storage_class["parameters"]["encrypted"] == "true"
