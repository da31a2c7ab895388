from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.render import OVERLAYS, Obj, copy_manifests, render
from tests.deploy.tools import check_kubectl


@pytest.fixture(scope="session")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of manifests/ with minikube's development Secrets generated."""
    check_kubectl()
    return copy_manifests(tmp_path_factory.mktemp("deploy"))


@pytest.fixture(scope="session")
def rendered(manifests: Path) -> dict[str, list[Obj]]:
    return {name: render(manifests / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def rendered_files(
    rendered: dict[str, list[Obj]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Each overlay's output as one YAML file, for the linters."""
    directory = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, objects in rendered.items():
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        files[name] = path
    return files


@pytest.fixture(scope="session")
def minikube(rendered: dict[str, list[Obj]]) -> list[Obj]:
    return rendered["minikube"]


@pytest.fixture(scope="session")
def eks(rendered: dict[str, list[Obj]]) -> list[Obj]:
    return rendered["eks"]


@pytest.fixture(scope="session")
def external_model(manifests: Path) -> list[Obj]:
    """minikube with components/external-model: the model at a provider instead."""
    overlay = manifests / "overlays" / "minikube-external-model"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "tandem",
                "resources": ["../minikube"],
                "components": ["../../components/external-model"],
            }
        )
    )
    return render(overlay)
