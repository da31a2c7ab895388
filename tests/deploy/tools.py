"""The deploy checks' command-line tools, found where ``scripts/install.sh`` puts them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS_VENV = ROOT / ".venv-tools" / "bin"
INSTALL_STEP = "bash scripts/install.sh"
# Components (kustomize >= 3.7) and the patch forms used by the overlays need kustomize 4+.
MIN_KUSTOMIZE_MAJOR = 4


class ToolMissingError(RuntimeError):
    """A tool the deploy tests need is not installed."""


def tool(name: str) -> str:
    """The tools venv first (checkov, hadolint, kubernetes-validate), then PATH (kubectl)."""
    candidate = TOOLS_VENV / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(f"{name} is not installed: run `{INSTALL_STEP}`")
    return found


def run(name: str, *args: str, cwd: Path | None = None, timeout_s: float = 300) -> str:
    """Run a tool that must succeed; its output on failure is in the assertion message."""
    done = subprocess.run(
        [tool(name), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, f"{name} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def check_kubectl() -> None:
    """Debian's kubernetes-client (1.20) embeds a kustomize without components: say so."""
    out = run("kubectl", "version", "--client", "-o", "json")
    version = json.loads(out).get("kustomizeVersion", "")
    major = int(version.lstrip("v").split(".")[0]) if version.startswith("v") else 0
    if major < MIN_KUSTOMIZE_MAJOR:
        raise ToolMissingError(
            f"kubectl's kustomize is {version or 'too old to report its version'}; the "
            f"overlays need kustomize v{MIN_KUSTOMIZE_MAJOR}+ (kubectl 1.21 or newer)"
        )
