"""Where a training run's results live in object storage, and the names that find them.

    models/{workspace}/{run}/manifest.json          what a person reads: base model and
                                                    revision, dataset sha256, hyperparameters,
                                                    loss per step, eval scores, trainer
    models/{workspace}/{run}/adapter/{file}         the LoRA adapter (safetensors + config)
    models/{workspace}/{run}/checkpoint/{file}      the newest training checkpoint, while the
                                                    run trains (a retried pod resumes from it)

An adapter's name, the ``model`` of a chat request, is ``{workspace}/{run}``: the model server
and vLLM's filesystem resolver find it by that name alone, and nothing else has to map names
to places. Runs are immutable once stored, so a name always means the same weights."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
ADAPTER_DIGESTS = "adapter_sha256"
"""The manifest's ``{file: sha256 hex}`` of the adapter's files: servers check what they
fetched against it, and fetch again when it changes."""
MANIFEST = "manifest.json"
_PART = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}"
_NAME = re.compile(rf"({_PART})/({_PART})")


class ArtifactError(ValueError):
    """A name that is no adapter's, or an artifact that is missing or malformed."""


class Objects(Protocol):
    """What artifacts need of object storage (the server adapts the drive's store)."""

    async def write(self, key: str, data: bytes) -> None: ...

    async def read(self, key: str) -> bytes | None:
        """None when there is no such object."""
        ...

    async def delete_prefix(self, prefix: str) -> int: ...


@dataclass(frozen=True)
class AdapterName:
    workspace_id: str
    run: str

    def __str__(self) -> str:
        return f"{self.workspace_id}/{self.run}"

    @classmethod
    def parse(cls, name: str) -> AdapterName:
        match = _NAME.fullmatch(name)
        if match is None:
            raise ArtifactError(f"{name!r} names no adapter")
        return cls(match.group(1), match.group(2))

    @property
    def prefix(self) -> str:
        return f"models/{self.workspace_id}/{self.run}"

    def key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))

    @property
    def manifest_key(self) -> str:
        return self.key(MANIFEST)

    def adapter_key(self, file: str) -> str:
        return self.key("adapter", file)

    def checkpoint_key(self, file: str) -> str:
        return self.key("checkpoint", file)


def adapter_digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}


def models_prefix(workspace_id: str) -> str:
    return f"models/{workspace_id}"


async def read_manifest(objects: Objects, name: AdapterName) -> dict[str, Any]:
    raw = await objects.read(name.manifest_key)
    if raw is None:
        raise ArtifactError(f"{name} has no manifest")
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{name}'s manifest is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or "base_model" not in manifest:
        raise ArtifactError(f"{name}'s manifest names no base model")
    return manifest


async def write_manifest(objects: Objects, name: AdapterName, manifest: dict[str, Any]) -> None:
    await objects.write(name.manifest_key, json.dumps(manifest, indent=2, sort_keys=True).encode())
