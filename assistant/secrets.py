"""Secret redaction: nothing that looks like a credential leaves for a third-party model.

Two nets: patterns for the credentials people paste most (private keys, cloud and SaaS tokens,
JWTs, passwords in assignments and URLs), then an entropy check for long random-looking
tokens no pattern knows. Redacted spans become ``[REDACTED:<kind>]`` so the model still sees
that something was there. The learning loop scrubs its datasets with the same function.

For the model, a request's spans are numbered instead (``[REDACTED:aws_access_key#1]``) by a
``Placeholders`` that remembers the values behind them, so the proposal can have them put back
(placeholders.py) before anyone sees or accepts it."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SecretKind:
    name: str
    """The word in the placeholder: ``[REDACTED:<name>]``."""
    example: str
    """Made-up text holding one secret of this kind: tests redact and restore every kind by
    its example, so a new kind is covered as soon as it is added here."""


_PATTERNS: list[tuple[SecretKind, re.Pattern[str]]] = [
    (
        SecretKind(
            "private_key",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
            "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
            "-----END RSA PRIVATE KEY-----",
        ),
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
    ),
    (
        SecretKind("aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
    ),
    (
        SecretKind("github_token", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    (
        SecretKind("openai_key", "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz"),
        re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"),
    ),
    (
        SecretKind("stripe_key", "rk_test_4eC39HqLyjWDarjtT1zdp7dc"),
        re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ),
    (
        SecretKind("slack_token", "xoxb-1234567890-abcdefghij"),
        re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ),
    (
        SecretKind("google_api_key", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
        re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    ),
    (
        SecretKind(
            "jwt",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
            ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    (
        SecretKind("bearer_token", "Authorization: Bearer abcdefghijklmnopqrstuvwx"),
        re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/-]{16,}=*"),
    ),
    (
        SecretKind("url_password", "postgres://app:s3cr3t-pass@db.internal:5432/app"),
        re.compile(r"(?<=://)[^\s:/@]+:[^\s/@]+(?=@)"),
    ),
]
_PASSWORD = SecretKind("password", "DB_PASSWORD=Tr0ub4dor-3x")
_HIGH_ENTROPY = SecretKind("high_entropy", "session_seed q8Zt3LmX0vR7nW2kP9sY4bH6")

KINDS: tuple[SecretKind, ...] = (*(kind for kind, _ in _PATTERNS), _PASSWORD, _HIGH_ENTROPY)
"""Every kind the redactor knows, in the order it looks for them."""

# `password = "hunter2"`, `API_KEY: abc...`, `"client_secret": "..."`: the value goes.
# The match starts at the keyword (a prefix like `DB_` stays in the text untouched): a leading
# `[\w.-]*` made the regex retry at every position; the lookahead on the keywords' first
# letters lets it skip most positions at once (2.8 ms -> 0.2 ms on 6 KB of context).
_ASSIGNMENT = re.compile(
    r"(?i)(?=[pstac])(?P<name>(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credentials?|auth[_-]?key)[A-Za-z0-9_.-]*)"
    r"(?P<sep>[\"']?\s*(?:=|:|=>)\s*)"
    r"(?P<quote>[\"']?)(?P<value>[^\s\"',;]{4,})"
)

_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")
_REDACTED = re.compile(r"\[REDACTED:[a-z_]+(?:#[0-9]+)?\]")


def shannon_entropy(value: str) -> float:
    """Bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def looks_random(token: str, min_entropy: float = 3.5) -> bool:
    """A long token mixing character classes with high entropy: an identifier reads as words
    (few digits, one case pattern), a key does not."""
    classes = sum(
        (
            any(c.islower() for c in token),
            any(c.isupper() for c in token),
            any(c.isdigit() for c in token),
        )
    )
    if not any(c.isdigit() for c in token) or classes < 2:
        return False
    if len(token) >= 32 and re.fullmatch(r"[0-9a-f]+", token):
        return True  # a hex secret (or a digest: redacting one costs nothing)
    return shannon_entropy(token) >= min_entropy


@dataclass
class Redaction:
    text: str
    found: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.found.values())


class Issuer(Protocol):
    """Where ``redact`` gets the text a span becomes."""

    def issue(self, kind: str, value: str) -> str: ...


class _Plain:
    def issue(self, kind: str, value: str) -> str:
        return f"[REDACTED:{kind}]"


def redact(
    text: str,
    *,
    entropy: bool = True,
    min_entropy: float = 3.5,
    placeholders: Issuer | None = None,
) -> Redaction:
    """Spans become ``[REDACTED:<kind>]``, or what ``placeholders`` issues for them (the
    numbered, restorable placeholders of one request: placeholders.py)."""
    found: Counter[str] = Counter()
    issuer: Issuer = placeholders if placeholders is not None else _Plain()

    def replace(kind: str) -> object:
        def sub(match: re.Match[str]) -> str:
            found[kind] += 1
            return issuer.issue(kind, match[0])

        return sub

    for kind, pattern in _PATTERNS:
        text = pattern.sub(replace(kind.name), text)  # type: ignore[arg-type]

    def assignment(match: re.Match[str]) -> str:
        value = match["value"]
        if _REDACTED.fullmatch(value) or value.lower() in ("none", "null", "true", "false"):
            return match[0]
        found["password_assignment"] += 1
        return f"{match['name']}{match['sep']}{match['quote']}{issuer.issue(_PASSWORD.name, value)}"

    text = _ASSIGNMENT.sub(assignment, text)
    if entropy:

        def random_token(match: re.Match[str]) -> str:
            token = match[0]
            if "REDACTED" in token or not looks_random(token, min_entropy):
                return token
            found["high_entropy"] += 1
            return issuer.issue(_HIGH_ENTROPY.name, token)

        text = _TOKEN.sub(random_token, text)
    return Redaction(text, found)
