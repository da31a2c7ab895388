"""The Dockerfile as a list of (stage, instruction, arguments), continuation lines joined."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.tools import ROOT

DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return value


def parse(path: Path = DOCKERFILE) -> list[Instruction]:
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = []
    stage = ""
    for text in logical:
        keyword, _, arguments = text.strip().partition(" ")
        if keyword.upper() == "FROM":
            match = re.search(r"\bAS\s+(\S+)", arguments, re.IGNORECASE)
            stage = match.group(1) if match else arguments
        instructions.append(Instruction(stage, keyword.upper(), arguments.strip()))
    return instructions


def parents(instructions: list[Instruction]) -> dict[str, str]:
    """Each stage's FROM: another stage's name or an image."""
    return {i.stage: i.arguments.split()[0] for i in instructions if i.keyword == "FROM"}


def lineage(stage: str, instructions: list[Instruction]) -> list[str]:
    """The stage, the stage it is FROM, and so on up to the image (last)."""
    found = parents(instructions)
    chain = [stage]
    while chain[-1] in found:
        chain.append(found[chain[-1]])
    return chain


def ignored_patterns(path: Path = ROOT / ".dockerignore") -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule, as far as our file uses it: a pattern matches the path or a parent of it;
    ``**/`` matches any depth. (No ``!`` exceptions in our file.)"""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        assert not pattern.startswith("!"), "exceptions are not modelled here"
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(
                prefix.rsplit("/", 1)[-1], pattern[3:]
            ):
                return True
    return False


def build_context(dest: Path, source: Path = ROOT) -> Path:
    """What ``docker build .`` sends: the tree minus what .dockerignore names."""
    patterns = ignored_patterns(source / ".dockerignore")
    for directory, subdirectories, files in os.walk(source):
        here = Path(directory).relative_to(source)
        # Pruned, not walked: .venv and node_modules hold many thousands of files.
        subdirectories[:] = [
            d for d in subdirectories if not _ignored((here / d).as_posix(), patterns)
        ]
        for name in files:
            relative = (here / name).as_posix()
            if not _ignored(relative, patterns):
                (dest / here).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / relative, dest / relative)
    return dest
