"""Tandem pods in cluster mode: real `tandem serve` processes sharing Valkey and S3."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.services import S3Server, Valkey
from tests.server_proc import TandemProcess

BUCKET = "tandem-test"
JWT_SECRET = "test-only-jwt-secret-shared-by-all-pods-0123456789"


def cluster_env(valkey: Valkey, s3: S3Server, **extra: str) -> dict[str, str]:
    return {
        "TANDEM_REDIS_URL": valkey.url,
        "TANDEM_S3_ENDPOINT": s3.endpoint,
        "TANDEM_S3_ACCESS_KEY": s3.access_key,
        "TANDEM_S3_SECRET_KEY": s3.secret_key,
        "TANDEM_S3_BUCKET": BUCKET,
        "TANDEM_LOG_LEVEL": "warning",
        "TANDEM_JWT_SECRET": JWT_SECRET,
        **extra,
    }


def pod(tmp: Path, index: int, env: dict[str, str], port: int = 0) -> TandemProcess:
    return TandemProcess(
        tmp / f"pod-{index}", env={**env, "TANDEM_POD_ID": f"pod-{index}"}, port=port
    )
