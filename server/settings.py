"""All settings in one frozen object, built once from ``TANDEM_*`` variables and CLI flags."""

from __future__ import annotations

import ipaddress
import math
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sync.limits import SyncLimits


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


_SYNC = SyncLimits()


_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_WS_IMPLS = ("websockets-sansio", "websockets", "wsproto", "auto")
_AT_LEAST_ONE = (
    "outbox_frames",
    "max_doc_bytes",
    "max_awareness_bytes",
    "compact_entries",
    "compact_bytes",
    "redis_readers",
    "assistant_workers",
    "assistant_queue_max",
    "openai_concurrency",
    "assistant_streams_per_workspace",
    "model_max_adapters",
    "model_max_new_tokens",
    "ft_lora_rank",
    "ft_lora_alpha",
    "ft_batch_size",
    "ft_gradient_accumulation",
    "ft_max_length",
    "ft_processes",
    "ft_max_attempts",
    "history_keep_points",
)
"""Counts and sizes where zero would silently stop the thing they size."""
_POSITIVE_DURATIONS = (
    "access_token_ttl_s",
    "refresh_token_ttl_s",
    "access_recheck_s",
    "redis_timeout_s",
    "s3_timeout_s",
    "mongodb_timeout_s",
    "openai_timeout_s",
    "openai_total_timeout_s",
    "send_timeout_s",
    "ws_ping_interval_s",
    "ws_ping_timeout_s",
    "ft_request_timeout_s",
    "ft_epochs",
    "ft_learning_rate",
)


def _env_name(name: str) -> str:
    return "TANDEM_" + name.upper()


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    pod_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}")
    log_level: str = "info"

    # Backing services; none set means the embedded default in data_dir.
    redis_url: str | None = None
    s3_endpoint: str | None = None
    s3_bucket: str = "tandem"
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)
    s3_secure: bool = False
    redis_timeout_s: float = 10.0
    # Blocking XREADs per pod, documents sharded over them. One reader batches more entries per
    # read; with hiredis parsing, that measured ~7% less pod CPU than four (2 pods, 25 docs).
    redis_readers: int = 1
    """Blocking stream readers per pod (Redis connections held for following documents)."""
    s3_timeout_s: float = 10.0
    mongodb_url: str | None = field(default=None, repr=False)
    mongodb_timeout_s: float = 10.0
    jwt_secret: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_model: str = "gpt-4o-mini"

    # Assistant (assistant/, server/assistant_routes.py, `tandem assistant`).
    openai_timeout_s: float = 30.0
    """Per model HTTP request, and per read while streaming."""
    openai_total_timeout_s: float = 120.0
    """For a whole suggestion, retries included."""
    openai_max_retries: int = 2
    openai_concurrency: int = 8
    """Model requests at once per process."""
    assistant_workers: int = 4
    """Worker loops: inside `tandem serve` in the embedded default, per `tandem assistant`
    process in cluster mode (pods then only queue requests)."""
    assistant_redact_secrets: bool = True
    """Off only for a self-hosted model: document text then reaches it unredacted."""
    assistant_rate_per_min: int = 30
    """Assistant requests per user per minute."""
    assistant_streams_per_workspace: int = 8
    """Suggestions streaming at once per workspace."""
    assistant_flush_interval_s: float = 0.04
    """Streamed tokens are written into the suggestions document at most this often."""
    assistant_context_tokens: int = 1500
    assistant_queue_max: int = 1000
    assistant_reclaim_idle_s: float = 30.0
    """A cluster worker silent this long loses its job to another worker."""
    assistant_drain_s: float = 30.0
    """At shutdown, jobs under way get this long to finish; then they are cut (a cluster
    worker's are reclaimed by another). Below the pod's terminationGracePeriodSeconds."""
    assistant_health_port: int = 8001
    """`tandem assistant` answers /healthz (the liveness probe) and /metrics here, on
    TANDEM_HOST; 0: not at all."""
    assistant_instructions: str = ""
    """Instructions given to the model for every workspace (e.g. house style)."""

    # Accounts and access (server/access).
    signup: str = "open"
    """Who may create an account: open (anyone), invite (only with an invite code a workspace
    owner created), closed (only `tandem admin create-user`)."""
    access_token_ttl_s: float = 900.0
    refresh_token_ttl_s: float = 30 * 24 * 3600.0
    trusted_proxies: str = ""
    """Comma-separated addresses or networks (CIDR) of the reverse proxies in front of the
    server: only from them are X-Forwarded-For and X-Forwarded-Proto believed. Empty: from
    nobody, so the peer's own address counts (a client cannot pick its sign-in budget)."""
    refresh_reuse_grace_s: float = 30.0
    """A rotated refresh token still works this long after its first use (a reload or a
    second tab racing the rotation); 0: strictly once."""
    user_cache_s: float = 5.0
    """An account found to exist is looked up again after this: a deleted account's tokens
    stop working within it."""
    access_recheck_s: float = 10.0
    """Open websockets re-check their member's role this often; a removed member is closed."""
    open_access: bool = False
    """Lets any websocket open any document without a token. Only for protocol tests and
    trusted single-user setups: it turns access control off for /sync."""
    signin_attempts_per_min: int = 10
    """Failed sign-ins allowed per username and per client address each minute."""
    signups_per_min: int = 10
    """Sign-ups per client address each minute (each costs an argon2 hash)."""
    ws_max_frames_per_s: float = 500.0
    ws_max_bytes_per_s: float = 32 * 1024 * 1024
    """Per connection, averaged over a burst of one second: a faster client is closed 1008."""
    max_pending_connections: int = 256
    """Websockets authorized at once; the ones past it wait their turn (server/sync_admission)."""
    sync_admission_wait_s: float = 10.0
    """How long a websocket waits for its turn to be authorized before it is refused (1013)."""

    # Drive (drive/, server/drive/).
    max_upload_bytes: int = 100 * 1024 * 1024
    """Largest file one upload may carry (413 above it)."""
    workspace_quota_bytes: int = 1024 * 1024 * 1024
    """Bytes of files one workspace may keep, trashed files included (413 above it)."""
    max_text_file_bytes: int = 2 * 1024 * 1024
    """Text files up to this size open as collaborative documents; larger ones stay bytes."""
    drive_lock_timeout_s: float = 10.0
    """How long a tree change waits for the workspace's lock before answering 503."""
    drive_size_interval_s: float = 2.0
    """How often the sizes of text files that were edited are measured and saved."""

    # Search (server/search, assistant/knowledge): the index of the workspaces' text files.
    search_refresh_interval_s: float = 1.0
    """How often the files edited or changed since are indexed again: an edit shows in
    search within about this plus the rooms' telling interval (the stated bound is 3 s)."""
    search_backfill_concurrency: int = 4
    """Files read at once when a workspace is indexed in full the first time it is searched."""
    search_max_query_chars: int = 1_000
    """Longer search box queries are 400 invalid_query."""

    # Learning loop (learning/, server/history): `tandem finetune` and edit history.
    base_model: str | None = None
    """The base model the assistant's model server runs and local training adapts: a Hugging
    Face id (``@revision`` optional), a local directory or ``s3://bucket/prefix``. Defaults to
    TANDEM_OPENAI_MODEL for the openai-jobs trainer."""
    model_cache_dir: Path = Path("model-cache")
    """Where an S3 base model is copied to, and where training checkpoints are staged."""
    ft_trainer: str = "local"
    """local (TRL + PEFT LoRA in this process: the Job's own pod) or openai-jobs (an API
    compatible with OpenAI's files and fine_tuning.jobs; OpenAI itself takes no new jobs
    from 6 January 2027)."""
    ft_shards: int = 1
    """Shards of workspaces (an Indexed Job's completions); this process trains shard
    JOB_COMPLETION_INDEX (or --shard) of them."""
    ft_lora_rank: int = 16
    ft_lora_alpha: int = 32
    ft_lora_dropout: float = 0.05
    ft_lora_target_modules: str = "all-linear"
    """Comma-separated module names, or all-linear."""
    ft_epochs: float = 3.0
    ft_learning_rate: float = 2e-4
    ft_batch_size: int = 4
    ft_gradient_accumulation: int = 1
    ft_max_length: int = 2048
    """Tokens per example; longer ones are truncated."""
    ft_dpo_beta: float = 0.1
    ft_qlora: bool = False
    """4-bit base weights (bitsandbytes, GPU only)."""
    ft_seed: int = 0
    ft_save_steps: int = 0
    """A checkpoint every this many steps; 0: one per epoch."""
    ft_processes: int = 1
    """GPUs one workspace trains on (data parallel under torchrun); above 1 needs that many."""
    ft_max_attempts: int = 3
    """Reruns of a failed run the same day (the Job's pod retries) before it stays failed."""
    ft_serve_wait_s: float = 120.0
    """How long the gate waits for the serving path to know a new adapter."""
    model_host: str = "127.0.0.1"
    model_port: int = 8002
    """`tandem model serve`: OpenAI-compatible chat completions over the base + adapters."""
    model_max_adapters: int = 8
    """Adapters kept loaded at once by `tandem model serve` (least recently used go first)."""
    model_max_new_tokens: int = 512
    ft_base_url: str | None = None
    """The fine-tuning provider (OpenAI-compatible files + fine_tuning.jobs); defaults to
    TANDEM_OPENAI_BASE_URL."""
    ft_api_key: str | None = field(default=None, repr=False)
    """Defaults to TANDEM_OPENAI_API_KEY."""
    ft_base_model: str | None = None
    """The model fine-tuned; defaults to TANDEM_OPENAI_MODEL."""
    ft_method: str = "supervised"
    """supervised (chat SFT JSONL) or dpo (preference JSONL); both datasets are always stored."""
    ft_min_examples: int = 50
    """New labelled examples a workspace needs since its last run to train again."""
    ft_max_per_user: int = 200
    """Examples one member may contribute to a dataset, so nobody steers the model alone."""
    ft_settle_s: float = 24 * 3600.0
    """How long after an accept its text is left alone before its outcome is read."""
    ft_validation_fraction: float = 0.2
    ft_max_example_chars: int = 32_000
    ft_poll_s: float = 30.0
    ft_job_timeout_s: float = 12 * 3600.0
    ft_eval_examples: int = 50
    """Held-out examples replayed through the candidate and the current model."""
    ft_promote_margin: float = 0.0
    """The candidate must beat the current model's score by more than this."""
    ft_request_timeout_s: float = 60.0
    ft_registry_cache_s: float = 5.0
    """Assistant workers re-read a workspace's promoted model at most this often."""
    history_flush_s: float = 5.0
    """Edit sessions are written in batches at most this often (never once per keystroke)."""
    history_session_gap_s: float = 300.0
    """A user's pause longer than this starts a new edit session."""
    history_snapshot_s: float = 600.0
    """A changed document gets a restore point at most this often."""
    history_keep_points: int = 100
    """Restore points kept per document (older ones are thinned out, then dropped)."""
    history_retention_s: float = 90 * 24 * 3600.0

    # Websocket transport.
    max_message_bytes: int = 16 * 1024 * 1024
    ws_per_message_deflate: bool = False
    ws_impl: str = "websockets-sansio"
    """uvicorn's websocket implementation; the default one carries /sync's write-now path."""
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    shutdown_grace_s: float = 20.0
    malloc_trim_interval_s: float = 10.0
    """How often freed memory is given back to the system when documents closed since
    (server/memory_trim.py); 0 stops it."""
    loop_lag_interval_s: float = 0.05
    """How often the event loop's lag is sampled (``tandem_event_loop_lag_seconds``); 0 stops
    it."""

    # Sync layer: what each means, and its default, lives in sync.limits.SyncLimits.
    outbox_frames: int = _SYNC.outbox_frames
    send_timeout_s: float = _SYNC.send_timeout_s
    room_grace_s: float = _SYNC.room_grace_s
    max_doc_bytes: int = _SYNC.max_doc_bytes
    max_awareness_bytes: int = _SYNC.max_awareness_bytes
    compact_entries: int = _SYNC.compact_entries
    compact_bytes: int = _SYNC.compact_bytes
    compact_age_s: float = _SYNC.compact_age_s
    compactions_at_once: int = _SYNC.compactions_at_once
    sqlite_synchronous: str = "NORMAL"

    @property
    def proxies(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def sync_limits(self) -> SyncLimits:
        # Each sync limit is a setting of the same name (and the same default).
        return SyncLimits(**{f.name: getattr(self, f.name) for f in fields(SyncLimits)})

    @classmethod
    def known_env_names(cls) -> set[str]:
        return {_env_name(f.name) for f in fields(cls)}

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Environment first, then explicit overrides (CLI flags) where not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, str(f.type))
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        if values.get("base_model") and "openai_model" not in values:
            # The assistant's model with no adapter promoted is the base the model server runs.
            values["openai_model"] = str(values["base_model"]).partition("@")[0]
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        self._validate_numbers()
        if self.log_level.lower() not in _LOG_LEVELS:
            raise SettingsError(f"TANDEM_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
        if self.ws_impl not in _WS_IMPLS:
            raise SettingsError(f"TANDEM_WS_IMPL must be one of {', '.join(_WS_IMPLS)}")
        for proxy in self.proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(
                    f"TANDEM_TRUSTED_PROXIES: {proxy!r} is not an address or network (CIDR)"
                ) from None
        _check_url("redis_url", self.redis_url, ("redis", "rediss", "unix"))
        _check_url("mongodb_url", self.mongodb_url, ("mongodb", "mongodb+srv"))
        if self.s3_endpoint and ("://" in self.s3_endpoint or "/" in self.s3_endpoint):
            raise SettingsError(
                "TANDEM_S3_ENDPOINT must be host:port, without a scheme or path "
                "(TANDEM_S3_SECURE=true for TLS)"
            )
        if not 0 < self.port < 65536:
            raise SettingsError(f"TANDEM_PORT must be 1-65535, not {self.port}")
        if not 0 <= self.assistant_health_port < 65536:
            raise SettingsError("TANDEM_ASSISTANT_HEALTH_PORT must be 0-65535")
        if self.sqlite_synchronous.upper() not in ("NORMAL", "FULL"):
            raise SettingsError("TANDEM_SQLITE_SYNCHRONOUS must be NORMAL or FULL")
        if self.compactions_at_once < 1:
            raise SettingsError("TANDEM_COMPACTIONS_AT_ONCE must be at least 1")
        if self.max_message_bytes < 1024:
            raise SettingsError("TANDEM_MAX_MESSAGE_BYTES must be at least 1024")
        if self.signup not in ("open", "invite", "closed"):
            raise SettingsError("TANDEM_SIGNUP must be open, invite or closed")
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < 32:
            raise SettingsError("TANDEM_JWT_SECRET must be at least 32 bytes")
        if min(self.max_upload_bytes, self.workspace_quota_bytes, self.max_text_file_bytes) < 1:
            raise SettingsError("the drive's byte limits must be positive")
        if self.redis_url and not self.mongodb_url and not self.open_access:
            raise SettingsError(
                "cluster mode needs TANDEM_MONGODB_URL: every pod must see the same accounts"
            )
        if self.ft_trainer not in ("local", "openai-jobs"):
            raise SettingsError("TANDEM_FT_TRAINER must be local or openai-jobs")
        if self.ft_shards < 1:
            raise SettingsError("TANDEM_FT_SHARDS must be at least 1")
        if self.ft_method not in ("supervised", "dpo"):
            raise SettingsError("TANDEM_FT_METHOD must be supervised or dpo")
        if self.redis_url and not self.s3_endpoint:
            raise SettingsError("cluster mode needs TANDEM_S3_ENDPOINT with TANDEM_REDIS_URL")

    def _validate_numbers(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            name = _env_name(f.name)
            if not math.isfinite(value):
                raise SettingsError(f"{name} must be a finite number, not {value}")
            if value < 0:
                raise SettingsError(f"{name} must not be negative, not {value}")
            if f.name in _AT_LEAST_ONE and value < 1:
                raise SettingsError(f"{name} must be at least 1, not {value}")
            if f.name in _POSITIVE_DURATIONS and value <= 0:
                raise SettingsError(f"{name} must be more than 0, not {value}")


def _check_url(name: str, value: str | None, schemes: tuple[str, ...]) -> None:
    if value is None:
        return
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in schemes or not rest:
        raise SettingsError(
            f"{_env_name(name)} must be a URL starting with "
            + " or ".join(f"{s}://" for s in schemes)
        )


def _parse(name: str, raw: str, type_name: str) -> Any:
    try:
        if "bool" in type_name:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if "Path" in type_name:
            return Path(raw)
    except ValueError:
        raise SettingsError(f"{_env_name(name)}={raw!r} is not a valid {type_name}") from None
    return raw
