"""The bodies of the account, session, workspace and member routes (``server.requests``)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, PlainValidator

from server.errors import bad_request
from server.requests import JsonBody

from .roles import Role

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")
MAX_WORKSPACE_NAME = 100


def check_username(raw: str) -> str:
    if not _USERNAME.fullmatch(raw):
        raise bad_request(
            "usernames are 3-32 characters of A-Z a-z 0-9 _ . - and start with a letter or digit",
            "invalid_username",
        )
    return raw


def check_workspace_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_WORKSPACE_NAME:
        raise bad_request(f"workspace names are 1-{MAX_WORKSPACE_NAME} characters", "invalid_name")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise bad_request("workspace names cannot contain control characters", "invalid_name")
    return name


def _role(raw: object) -> Role:
    try:
        return Role.parse(raw)
    except ValueError as exc:
        raise bad_request(str(exc), "invalid_role") from None


Name = Annotated[str, Field(max_length=64)]
NewUsername = Annotated[Name, AfterValidator(check_username)]
Password = Annotated[str, Field(max_length=4096)]
Token = Annotated[str, Field(max_length=4096)]
WorkspaceName = Annotated[str, Field(max_length=1000), AfterValidator(check_workspace_name)]
RoleName = Annotated[Role, PlainValidator(_role)]


class SignUp(JsonBody):
    username: NewUsername
    password: Password
    invite: Token | None = None


class SignIn(JsonBody):
    username: Name
    password: Password


class Refresh(JsonBody):
    refresh_token: Token


class SignOut(Refresh):
    everywhere: bool = False


class PasswordCheck(JsonBody):
    password: Password


class NewWorkspace(JsonBody):
    name: WorkspaceName


class WorkspaceChanges(JsonBody):
    name: WorkspaceName | None = None
    allow_training: bool | None = None


class RoleChoice(JsonBody):
    role: RoleName


class NewMember(RoleChoice):
    username: Name
