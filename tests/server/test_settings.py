from __future__ import annotations

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
