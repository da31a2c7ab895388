"""``tandem admin``: operator commands that work without the server running.

``tandem admin create-user NAME [--workspace W]`` bootstraps the first account when sign-up
is closed or invite-only. The password comes from ``TANDEM_ADMIN_PASSWORD`` or standard input
(never a flag: flags end up in shell history and process listings)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import Any

from .access.bodies import check_username, check_workspace_name
from .access.errors import ConflictError
from .access.passwords import PasswordPolicyError, Passwords
from .access.wiring import open_directory
from .backends import open_mongo
from .errors import ApiError
from .settings import Settings, SettingsError


def add_parser(commands: Any) -> None:
    admin = commands.add_parser("admin", help="operator commands (accounts)")
    actions = admin.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create-user", help="create an account")
    create.add_argument("username")
    create.add_argument("--workspace", help="also create a workspace the user owns")
    create.set_defaults(run=_create_user)


def _read_password() -> str:
    if (from_env := os.environ.get("TANDEM_ADMIN_PASSWORD")) is not None:
        return from_env
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\n")


def _create_user(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
        check_username(args.username)
        if args.workspace is not None:
            check_workspace_name(args.workspace)
        password = _read_password()
        Passwords.check_policy(password)
        return asyncio.run(_create(settings, args.username, password, args.workspace))
    except (SettingsError, PasswordPolicyError) as exc:
        print(f"tandem: {exc}", file=sys.stderr)
    except ApiError as exc:
        print(f"tandem: {exc.message}", file=sys.stderr)
    except ConflictError:
        print(f"tandem: the username {args.username!r} is taken", file=sys.stderr)
    return 2


async def _create(settings: Settings, username: str, password: str, workspace: str | None) -> int:
    async with open_mongo(settings) as database, open_directory(settings, database) as directory:
        user = await directory.create_user(username, await Passwords().hash(password))
        print(f"created user {username} ({user.id})")
        if workspace is not None:
            created = await directory.create_workspace(workspace, user.id)
            print(f"created workspace {workspace} ({created.id})")
    return 0
