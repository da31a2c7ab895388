"""The Dockerfile as a list of (stage, instruction, arguments), continuation lines joined."""

from __future__ import annotations

import json
import re
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
