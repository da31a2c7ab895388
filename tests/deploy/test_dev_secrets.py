"""minikube's development Secrets: generated once, private, and consistent with each other."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from tests.deploy.render import MANIFESTS


def make_secrets(overlay: Path, **env: str) -> str:
    done = subprocess.run(
        ["bash", str(overlay / "make-secrets.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
    )
    return done.stdout


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def test_secrets_are_private_consistent_and_kept_across_runs(tmp_path: Path) -> None:
    overlay = tmp_path / "minikube"
    shutil.copytree(
        MANIFESTS / "overlays" / "minikube", overlay, ignore=shutil.ignore_patterns("secrets")
    )
    make_secrets(overlay, OPENAI_API_KEY="sk-first")
    secrets = overlay / "secrets"
    first = {p.name: p.read_text() for p in secrets.iterdir()}
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in secrets.iterdir())

    redis = read_env(secrets / "redis.env")
    assert urlsplit(redis["url"]).password == redis["password"]
    mongodb = read_env(secrets / "mongodb.env")
    url = urlsplit(mongodb["url"])
    assert (url.username, url.password) == (mongodb["username"], mongodb["password"])
    assert len(read_env(secrets / "jwt.env")["secret"]) >= 32
    assert read_env(secrets / "model-api.env")["api-key"] == "sk-first"
    assert read_env(secrets / "finetune-api.env")["api-key"] == "sk-first"
    assert (
        len({redis["password"], mongodb["password"], read_env(secrets / "s3.env")["secret-key"]})
        == 3
    )

    # A second run changes nothing: MongoDB made its root user with the first password.
    out = make_secrets(overlay, OPENAI_API_KEY="sk-second")
    assert "wrote" not in out
    assert {p.name: p.read_text() for p in secrets.iterdir()} == first


def test_secrets_are_ignored_by_git() -> None:
    done = subprocess.run(
        [
            "git",
            "check-ignore",
            "-q",
            str(MANIFESTS / "overlays" / "minikube" / "secrets" / "jwt.env"),
        ],
        cwd=MANIFESTS,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, "minikube's generated secrets would be committed"
