"""Rendered manifests as Python objects, and what a container's environment resolves to."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import ROOT, run

MANIFESTS = ROOT / "manifests"
OVERLAYS = ("minikube", "eks")
# The runtime image and its training target (`docker build --target train`): both run `tandem`.
TANDEM_IMAGES = ("tandem", "tandem-train")
# The key the test puts in the generated model-API Secrets.
TEST_MODEL_KEY = "sk-test-model-key"

Obj = dict[str, Any]


def copy_manifests(dest: Path) -> Path:
    """A working copy with the minikube development secrets generated, as the README says."""
    copy = dest / "manifests"
    shutil.copytree(MANIFESTS, copy, ignore=shutil.ignore_patterns("secrets"))
    script = copy / "overlays" / "minikube" / "make-secrets.sh"
    env = {**os.environ, "OPENAI_API_KEY": TEST_MODEL_KEY}
    env.pop("FINETUNE_API_KEY", None)
    subprocess.run(["bash", str(script)], check=True, env=env, capture_output=True, timeout=60)
    return copy


def render(directory: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(run("kubectl", "kustomize", str(directory))) if doc]


def find(objects: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "CronJob")


def pod_template(workload: Obj) -> Obj:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]
    return workload["spec"]["template"]


def workloads(objects: list[Obj]) -> Iterator[Obj]:
    return (o for o in objects if o["kind"] in WORKLOAD_KINDS)


def containers(workload: Obj) -> list[Obj]:
    spec = pod_template(workload)["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def is_tandem(container: Obj) -> bool:
    return image_name(container) in TANDEM_IMAGES


def image_name(container: Obj) -> str:
    """The image's name without registry, tag or digest."""
    return container["image"].rsplit("/", 1)[-1].split(":")[0].split("@")[0]


def tandem_workloads(objects: list[Obj]) -> list[tuple[Obj, Obj]]:
    return [(w, c) for w in workloads(objects) for c in containers(w) if is_tandem(c)]


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class FieldRef:
    path: str


EnvValue = str | SecretRef | FieldRef


def environment(objects: list[Obj], container: Obj) -> dict[str, EnvValue]:
    """The container's variables as Kubernetes builds them: envFrom first, env over it."""
    env: dict[str, EnvValue] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            name = source["secretRef"]["name"]
            env.update({key: SecretRef(name, key) for key in secret_data(objects, name)})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        source = var["valueFrom"]
        if "secretKeyRef" in source:
            env[var["name"]] = SecretRef(
                source["secretKeyRef"]["name"], source["secretKeyRef"]["key"]
            )
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[var["name"]] = one(objects, "ConfigMap", ref["name"])["data"][ref["key"]]
        elif "fieldRef" in source:
            env[var["name"]] = FieldRef(source["fieldRef"]["fieldPath"])
        else:
            raise AssertionError(f"unsupported env source {source}")
    return env


def secret_data(objects: list[Obj], name: str) -> dict[str, str]:
    secret = one(objects, "Secret", name)
    data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return {**data, **secret.get("stringData", {})}


def resolve(objects: list[Obj], value: EnvValue, pod_name: str) -> str:
    """A value as the process would see it (Secrets must be in the render)."""
    match value:
        case SecretRef(name, key):
            return secret_data(objects, name)[key]
        case FieldRef("metadata.name"):
            return pod_name
        case FieldRef(path):
            raise AssertionError(f"unsupported fieldRef {path}")
        case str():
            return value
