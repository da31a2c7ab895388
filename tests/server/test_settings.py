from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError
from sync.limits import SyncLimits


def test_environment_values_are_parsed_by_type() -> None:
    settings = Settings.load(
        env={
            "TANDEM_PORT": "9001",
            "TANDEM_DATA_DIR": "/srv/tandem",
            "TANDEM_WS_PER_MESSAGE_DEFLATE": "yes",
            "TANDEM_ROOM_GRACE_S": "0.5",
        }
    )
    assert settings.port == 9001
    assert settings.data_dir == Path("/srv/tandem")
    assert settings.ws_per_message_deflate is True
    assert settings.sync_limits.room_grace_s == 0.5


def test_flags_override_the_environment() -> None:
    settings = Settings.load(env={"TANDEM_PORT": "9001"}, overrides={"port": 9002, "host": None})
    assert settings.port == 9002 and settings.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TANDEM_PORT": "eighty"}, "TANDEM_PORT='eighty' is not a valid int"),
        ({"TANDEM_PORT": "70000"}, "TANDEM_PORT must be 1-65535"),
        ({"TANDEM_WS_PER_MESSAGE_DEFLATE": "maybe"}, "not a valid bool"),
        ({"TANDEM_SQLITE_SYNCHRONOUS": "OFF"}, "NORMAL or FULL"),
        (
            {"TANDEM_REDIS_URL": "redis://x", "TANDEM_MONGODB_URL": "mongodb://m"},
            "needs TANDEM_S3_ENDPOINT",
        ),
        ({"TANDEM_REDIS_URL": "redis://x", "TANDEM_S3_ENDPOINT": "s3:9000"}, "MONGODB_URL"),
        ({"TANDEM_SIGNUP": "maybe"}, "open, invite or closed"),
        ({"TANDEM_JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"TANDEM_LOG_LEVEL": "loud"}, "TANDEM_LOG_LEVEL must be one of debug"),
        ({"TANDEM_WS_IMPL": "fast"}, "TANDEM_WS_IMPL must be one of"),
        ({"TANDEM_OUTBOX_FRAMES": "0"}, "TANDEM_OUTBOX_FRAMES must be at least 1"),
        ({"TANDEM_ACCESS_TOKEN_TTL_S": "-5"}, "TANDEM_ACCESS_TOKEN_TTL_S must not be negative"),
        ({"TANDEM_WS_PING_TIMEOUT_S": "0"}, "TANDEM_WS_PING_TIMEOUT_S must be more than 0"),
        ({"TANDEM_ROOM_GRACE_S": "nan"}, "TANDEM_ROOM_GRACE_S must be a finite number"),
        ({"TANDEM_FT_EPOCHS": "inf"}, "TANDEM_FT_EPOCHS must be a finite number"),
        ({"TANDEM_MONGODB_URL": "localhost:27017"}, "TANDEM_MONGODB_URL must be a URL"),
        ({"TANDEM_REDIS_URL": "http://r:6379"}, "TANDEM_REDIS_URL must be a URL"),
        ({"TANDEM_S3_ENDPOINT": "http://minio:9000"}, "TANDEM_S3_ENDPOINT must be host:port"),
        ({"TANDEM_FT_TRAINER": "cloud"}, "TANDEM_FT_TRAINER must be local or openai-jobs"),
        ({"TANDEM_TRUSTED_PROXIES": "10.0.0.0/8, ingress"}, "'ingress' is not an address"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(env=env)


def test_sync_limit_defaults_match_the_sync_layer() -> None:
    assert Settings().sync_limits == SyncLimits()


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.load(
        env={
            "TANDEM_JWT_SECRET": "s3cr3t-value-of-at-least-32-bytes",
            "TANDEM_S3_SECRET_KEY": "k3y",
        }
    )
    assert "s3cr3t-value" not in repr(settings) and "k3y" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"TANDEM_LOG_LEVEL": "loud"}, "tandem: TANDEM_LOG_LEVEL must be one of"),
        (
            {"TANDEM_MONGODB_URL": "mongodb://127.0.0.1:1/t", "TANDEM_MONGODB_TIMEOUT_S": "0.5"},
            "start-up failed: pymongo.errors.ServerSelectionTimeoutError",
        ),
    ],
)
def test_a_server_that_cannot_start_says_why_in_one_line_and_exits_non_zero(
    tmp_path: Path, env: dict[str, str], words: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(tmp_path), "--port", "1"],
        env={**os.environ, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert words in done.stderr, done.stderr
