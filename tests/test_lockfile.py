"""Installs are reproducible: requirements.lock pins every package Tandem and its extras need,
within pyproject.toml's bounds, and every install path (scripts/install.sh, hence CI, and the
Dockerfile) installs through it."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.version import Version

from tests.lockfile import LOCK, locked, normalize

ROOT = LOCK.parent
EXTRAS = ("cluster", "train", "test")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared() -> list[Requirement]:
    extras = project()["optional-dependencies"]
    return [Requirement(r) for r in project()["dependencies"]] + [
        Requirement(r) for name in EXTRAS for r in extras[name]
    ]


def closure() -> dict[str, str]:
    """Every distribution the project's requirements pull in, as installed: name -> version."""
    found: dict[str, str] = {}
    todo = [(r, frozenset(r.extras)) for r in declared()]
    while todo:
        requirement, extras = todo.pop()
        name = normalize(requirement.name)
        if name in found:
            continue
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            raise AssertionError(f"{requirement.name} is required but not installed") from None
        found[name] = dist.version
        for sub in (Requirement(r) for r in dist.requires or []):
            wanted = [{"extra": e} for e in extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in wanted):
                todo.append((sub, frozenset(sub.extras)))
    return found


def test_every_installed_dependency_is_locked_at_its_installed_version() -> None:
    pins = locked()
    for name, installed in sorted(closure().items()):
        assert name in pins, f"{name} is not in requirements.lock: run scripts/lock.sh"
        # torch's build label (+cpu) is not part of the pin.
        assert Version(installed).public == Version(pins[name]).public, (
            f"{name} {installed} is installed, requirements.lock pins {pins[name]}"
        )


def test_every_pin_is_within_pyproject_bounds() -> None:
    pins = locked()
    for requirement in declared():
        pinned = pins.get(normalize(requirement.name))
        assert pinned is not None, f"{requirement.name} is declared but not locked"
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pinned}, outside {requirement}"
        )


def test_runtime_dependencies_have_upper_bounds() -> None:
    """A new major release (or, for the 0.x libraries whose internals the sync path reads,
    minor) must not arrive unasked."""
    for text in project()["dependencies"]:
        requirement = Requirement(text)
        assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), text


def test_every_install_path_installs_through_the_lock() -> None:
    install = (ROOT / "scripts" / "install.sh").read_text()
    pips = [line for line in install.splitlines() if re.search(r"pip install .*['\"]?\.\[", line)]
    assert pips and all("-c requirements.lock" in line for line in pips), pips
    docker = (ROOT / "Dockerfile").read_text()
    for requirements in ("-r requirements.txt", "-r train-requirements.txt"):
        assert f"-c requirements.lock {requirements}" in docker
    assert "bash scripts/install.sh" in (ROOT / ".ci" / "run").read_text()


def test_torch_is_pinned_alike_everywhere() -> None:
    pinned = locked()["torch"]
    assert f"'torch=={pinned}'" in (ROOT / "scripts" / "install.sh").read_text()
    assert f"ARG TORCH_VERSION={pinned}" in (ROOT / "Dockerfile").read_text()
