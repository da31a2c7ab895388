"""Connection burst (issue 25.3): ``--conns`` stock Yjs clients join one document at once.

    .venv/bin/python bench/burst_bench.py [--conns 1000] [--bytes 100000] [--rounds 3]

Tandem runs with its accounts on (each client presents a signed-in member's token, so every
connection is authorized against the directory, as in production) beside the reference
``@y/websocket-server``. Prints, per server and round, the time until every client is synced
and how many connections closed or failed before their sync (each of those reconnects, so a
refusal shows here, not as a stall). Needs ``npm ci --prefix bench``."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.sync_bench import LOAD, start_reference, start_tandem
from tests.accounts import sign_up

SECRET = "bench-only-secret-for-the-burst-0123456789abcdef"


def burst(url: str, conns: int, size: int, params: str = "", room: str = "") -> dict:
    cmd = ["node", str(LOAD), "burst", "--url", url, "--conns", str(conns), "--bytes", str(size)]
    if params:
        cmd += ["--params", params]
    if room:
        cmd += ["--room", room]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def member_token(http_url: str) -> tuple[str, str]:
    """A signed-in member's token and a text file's document id."""
    owner = await sign_up(http_url)
    ws = await owner.create_workspace()
    response = await owner.request(
        "POST", f"/api/workspaces/{ws}/drive/files", json={"name": "burst.md"}, expect=201
    )
    return owner.token, str(response.json()["doc_id"])


def tandem_round(tmp: Path, conns: int, size: int, settings: dict[str, str]) -> dict:
    server = start_tandem(
        tmp,
        TANDEM_OPEN_ACCESS="false",
        TANDEM_JWT_SECRET=SECRET,
        TANDEM_SIGNIN_ATTEMPTS_PER_MIN="1000",
        **settings,
    )
    try:
        token, doc_id = asyncio.run(member_token(f"http://127.0.0.1:{server.port}"))
        # The document's own id as the room: the stock provider appends it to the URL.
        return burst(server.url, conns, size, f"token={token}", doc_id)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--bytes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for Tandem")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.rounds):
            found = tandem_round(Path(tmp) / f"r{number}", args.conns, args.bytes, settings)
            print("tandem   ", json.dumps(found), flush=True)
            reference = start_reference()
            try:
                print("reference", json.dumps(burst(reference.url, args.conns, args.bytes)))
            finally:
                reference.stop()


if __name__ == "__main__":
    main()
