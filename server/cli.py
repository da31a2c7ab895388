"""The ``tandem`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from . import admin, finetune, logs, model_cli
from .app import create_app
from .open_files import raise_open_files_limit
from .settings import Settings, SettingsError


class _Server(uvicorn.Server):
    """Fails readiness the moment a shutdown signal arrives, before connections are closed."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        ctx = getattr(getattr(self.config.app, "state", None), "ctx", None)
        if ctx is not None:
            ctx.draining = True
        super().handle_exit(sig, frame)


def _ws_protocol(name: str) -> str | type:
    """The default adds /sync's write-now extension to uvicorn's sansio protocol; any other of
    uvicorn's names runs that implementation as it is (frames then go through ASGI only)."""
    if name == "websockets-sansio":
        from .ws_protocol import SyncWebSocketProtocol

        return SyncWebSocketProtocol
    return name


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(
            overrides={"host": args.host, "port": args.port, "data_dir": args.data_dir}
        )
    except SettingsError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    raise_open_files_limit()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=_ws_protocol(settings.ws_impl),  # type: ignore[arg-type]
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        log_config=None,
        access_log=False,
        lifespan="on",
        # uvicorn believes X-Forwarded-For from any loopback peer by default; we believe it
        # only from the proxies named in the settings (the ingress), and from nobody else.
        proxy_headers=bool(settings.proxies),
        forwarded_allow_ips=settings.proxies or [],
    )
    _Server(config).run()
    return 0


def _assistant(args: argparse.Namespace) -> int:
    from .assistant.worker_main import main as worker_main

    try:
        settings = Settings.load(overrides={"assistant_workers": args.workers})
    except SettingsError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    return worker_main(settings)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; the deploy tests check the images' commands against it."""
    parser = argparse.ArgumentParser(prog="tandem", description="Collaborative editing server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the sync server (embedded mode by default)")
    serve.add_argument("--host", help="bind address (TANDEM_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (TANDEM_PORT, default 8000)")
    serve.add_argument(
        "--data-dir", dest="data_dir", type=Path, help="embedded data (TANDEM_DATA_DIR)"
    )
    serve.set_defaults(run=_serve)
    assistant = commands.add_parser(
        "assistant", help="run assistant workers (cluster mode; they hold the model API key)"
    )
    assistant.add_argument("--workers", type=int, help="worker loops (TANDEM_ASSISTANT_WORKERS)")
    assistant.set_defaults(run=_assistant)
    admin.add_parser(commands)
    finetune.add_parser(commands)
    model_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
