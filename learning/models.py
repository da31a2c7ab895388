"""Loading the base model and its tokenizer, in one place, with the base's identity (id and
revision) carried beside them: an adapter is valid only on the exact base it was trained on.

``TANDEM_BASE_MODEL`` is a Hugging Face id (``Qwen/Qwen2.5-0.5B-Instruct``, optionally
``@revision``), a local directory, or ``s3://bucket/prefix`` (copied once into the model cache
directory). A local or S3 base's revision is a fingerprint of its files (names, sizes and the
sha256 of its config and first megabyte of each weight file), so a changed directory is a
different base.

torch and transformers are imported here only when a model is loaded: the sync pods' image
has neither (they are the ``train`` extra)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FINGERPRINT_BYTES = 1024 * 1024


class ModelLoadError(RuntimeError):
    """The base model or its tokenizer could not be loaded."""


@dataclass(frozen=True)
class BaseModel:
    """Which base: what adapters record and what serving checks."""

    id: str
    """As configured (the Hugging Face id, the path, the S3 URL): the name served."""
    revision: str
    path: str
    """What transformers loads: a local directory or the Hugging Face id."""


def resolve(spec: str, *, cache_dir: Path | None = None, s3: Any = None) -> BaseModel:
    """Where the base is and which revision it is, without loading any weights."""
    if spec.startswith("s3://"):
        if s3 is None:
            raise ModelLoadError(f"{spec}: an S3 base model needs the TANDEM_S3_* settings")
        local = _copy_from_s3(spec, s3, cache_dir or Path("model-cache"))
        return BaseModel(spec, fingerprint(local), str(local))
    path = Path(spec).expanduser()
    if path.is_dir():
        return BaseModel(spec, fingerprint(path), str(path))
    model_id, _, revision = spec.partition("@")
    return BaseModel(model_id, revision or "main", model_id)


def fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = file.relative_to(directory).as_posix()
        digest.update(f"{relative}\0{file.stat().st_size}\0".encode())
        if file.suffix in (".json", ".safetensors", ".bin", ".model"):
            with file.open("rb") as handle:
                digest.update(handle.read(_FINGERPRINT_BYTES))
    return "sha256:" + digest.hexdigest()[:32]


def _copy_from_s3(url: str, client: Any, cache_dir: Path) -> Path:
    """Copies ``s3://bucket/prefix/*`` once; a copy that completed has a ``.complete`` mark."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    target = cache_dir / hashlib.sha256(url.encode()).hexdigest()[:16]
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    found = 0
    for item in client.list_objects(bucket, prefix=prefix, recursive=True):
        relative = item.object_name[len(prefix) :]
        if not relative or relative.endswith("/"):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(bucket, item.object_name, str(destination))
        found += 1
    if not found:
        raise ModelLoadError(f"{url}: no objects under that prefix")
    (target / ".complete").touch()
    return target


def device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def dtype_for(device_name: str) -> Any:
    """bf16 on a GPU that has it, fp32 on CPU (bf16 matmuls on CPU are slow and lossy)."""
    import torch

    if device_name == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(base: BaseModel) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base.path, revision=_revision_arg(base))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"loading the tokenizer of {base.id}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(f"{base.id} has no chat template: use an instruct/chat base model")
    return tokenizer


def load_model(
    base: BaseModel, *, device_name: str | None = None, quantize_4bit: bool = False
) -> Any:
    from transformers import AutoModelForCausalLM

    device_name = device_name or device()
    kwargs: dict[str, Any] = {"dtype": dtype_for(device_name)}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=kwargs["dtype"]
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(
            base.path, revision=_revision_arg(base), **kwargs
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"loading {base.id}: {exc}") from exc
    # What peft writes as the adapter's base_model_name_or_path: the id that is served
    # (vLLM's filesystem resolver compares it with the served model's name).
    model.name_or_path = base.id
    model.config.name_or_path = base.id
    if not quantize_4bit:
        model.to(device_name)
    return model


def _revision_arg(base: BaseModel) -> str | None:
    return None if os.path.isdir(base.path) else base.revision
