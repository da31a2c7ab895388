"""Prometheus series of the drive (``tandem_drive_*``), on the default registry."""

from __future__ import annotations

from prometheus_client import Counter

OPERATIONS = Counter(
    "tandem_drive_operations_total", "Drive operations, by operation and result", ["op", "result"]
)
UPLOAD_BYTES = Counter("tandem_drive_upload_bytes_total", "Bytes of files uploaded")
DOWNLOAD_BYTES = Counter("tandem_drive_download_bytes_total", "Bytes of files downloaded")
