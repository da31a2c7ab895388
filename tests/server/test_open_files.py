"""tandem serve raises its soft limit on open files to the hard limit at start: a pod holds a
descriptor per connection."""

from __future__ import annotations

import resource
import subprocess
import sys

PROBE = """
import resource
from server.open_files import raise_open_files_limit
print(raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)

    def lower() -> None:  # the child starts as a runtime's default soft limit would leave it
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, preexec_fn=lower
    ).stdout
    assert out.split() and f"({hard}, {hard})" in out, out
