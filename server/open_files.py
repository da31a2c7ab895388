"""A pod holds a file descriptor per connection: ``tandem serve`` raises its soft limit on open
files to the hard limit at start (the container runtime sets the hard one; Docker and
containerd give 1,048,576 by default, so 10,000 connections fit, where a soft limit of 1,024
would refuse the 1,000th). Nothing can be raised past the hard limit from inside the
process: where it is lower than the connections a pod should hold, raise it in the runtime
(``--ulimit nofile=...`` for Docker, the node's containerd ``LimitNOFILE`` for Kubernetes)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]


def raise_open_files_limit() -> tuple[int, int] | None:
    """The (soft, hard) limit on open files after raising the soft one; None where the
    platform has no such limit."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open files limit from %d to %d", soft, target)
    if soft < 10_000:
        log.warning("open files limit is %d: a pod holds one per connection", soft)
    return soft, hard
