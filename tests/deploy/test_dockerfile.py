"""The image: hadolint and checkov find nothing, its command is the real CLI, its dependency
layer installs what the project declares, the build context leaves out what it should."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from server.cli import build_parser
from server.web_routes import DEFAULT_DIST
from tests.deploy.dockerfile import (
    DOCKERFILE,
    Instruction,
    build_context,
    ignored_patterns,
    lineage,
    parse,
)
from tests.deploy.tools import ROOT, run, tool

CARELESS_DOCKERFILE = """FROM python:latest
RUN apt-get update && apt-get install -y curl
RUN pip install flask
CMD python app.py
"""


def subcommands() -> set[str]:
    [action] = [a for a in build_parser()._actions if a.dest == "command"]
    return set(action.choices or {})


def hadolint(path: Path) -> list[dict[str, str]]:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def test_hadolint_finds_nothing_and_flags_a_careless_dockerfile(tmp_path: Path) -> None:
    assert hadolint(DOCKERFILE) == []
    careless = tmp_path / "Dockerfile"
    careless.write_text(CARELESS_DOCKERFILE)
    codes = {finding["code"] for finding in hadolint(careless)}
    assert {"DL3007", "DL3013", "DL3025"} <= codes  # latest tag, unpinned pip, shell-form CMD


def test_checkov_finds_nothing_but_flags_a_careless_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE.read_text())
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "Dockerfile").write_text(CARELESS_DOCKERFILE)
    out = run(
        "checkov",
        "-d",
        str(tmp_path),
        "--framework",
        "dockerfile",
        "--skip-download",
        "--soft-fail",
        "-o",
        "json",
    )
    results = json.loads(out)["results"]
    failed = [r for r in results["failed_checks"] if "canary" not in r["file_path"]]
    canary = {r["check_id"] for r in results["failed_checks"] if "canary" in r["file_path"]}
    assert not failed, [(r["check_id"], r["check_name"]) for r in failed]
    assert {"CKV_DOCKER_3", "CKV_DOCKER_7"} <= canary  # no USER, latest tag
    for skip in results["skipped_checks"]:
        assert len(skip["check_result"].get("suppress_comment") or "") > 30, skip["check_id"]


def test_image_runs_tandem_serve_as_a_non_root_user() -> None:
    instructions = parse()
    final = instructions[-1].stage
    runtime = [i for i in instructions if i.stage == final]
    [entrypoint] = [i.exec_form() for i in runtime if i.keyword == "ENTRYPOINT"]
    [command] = [i.exec_form() for i in runtime if i.keyword == "CMD"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["tandem"] and "tandem" in scripts
    assert command[0] in subcommands()
    [user] = [i.arguments for i in runtime if i.keyword == "USER"]
    assert user.split(":")[0] == "10001"  # the runAsUser of the manifests
    copied = [i.arguments for i in runtime if i.keyword == "COPY"]
    assert all(c.startswith("--from=") for c in copied), "the runtime takes only built stages"


def test_server_finds_the_web_bundle_where_the_image_puts_it() -> None:
    """web_routes looks for web/dist beside the package directories: the image installs the
    project (editable) in /app and copies the bundle to /app/web/dist."""
    instructions = parse()
    final = instructions[-1].stage
    [build_dir] = [
        i.arguments
        for i in instructions
        if i.stage in lineage("build", instructions) and i.keyword == "WORKDIR"
    ]
    assert any(
        i.keyword == "RUN" and "pip install" in i.arguments and "-e ." in i.arguments
        for i in instructions
        if i.stage == "build"
    )
    [bundle] = [
        i.arguments.split()
        for i in instructions
        if i.stage == final and i.keyword == "COPY" and i.arguments.startswith("--from=web")
    ]
    assert DEFAULT_DIST.relative_to(ROOT).as_posix() == "web/dist"
    assert bundle[-1] == f"{build_dir}/web/dist"
    [project] = [
        i.arguments.split()
        for i in instructions
        if i.stage == final and i.keyword == "COPY" and i.arguments.startswith("--from=build")
    ]
    assert project[1:] == [build_dir, build_dir]


def requirements_printed(step: Instruction, directory: Path) -> list[str]:
    """What the ``python -c`` of a dependency step prints for our pyproject.toml."""
    program = step.arguments.split(" > ")[0]
    program = program[program.index("python -c") :]
    words = shlex.split(program)
    assert words[:2] == ["python", "-c"]
    (directory / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    done = subprocess.run(
        [sys.executable, "-c", words[2]],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.split("\n")


def requirement_steps(stage: str) -> list[Instruction]:
    return [
        i for i in parse() if i.stage == stage and i.keyword == "RUN" and "tomllib" in i.arguments
    ]


def test_dependency_layer_installs_what_pyproject_declares_except_test_tools_and_training(
    tmp_path: Path,
) -> None:
    [step] = requirement_steps("deps")
    listed = requirements_printed(step, tmp_path)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["dependencies"]) <= set(listed)
    assert set(project["optional-dependencies"]["cluster"]) <= set(listed)
    runtime = set(project["dependencies"]) | set(project["optional-dependencies"]["cluster"])
    test_only = set(project["optional-dependencies"]["test"]) - runtime
    assert test_only and not test_only & set(listed)
    train_only = set(project["optional-dependencies"]["train"]) - runtime
    assert train_only and not train_only & set(listed)
    # At the locked versions, the lock copied in with pyproject.toml.
    assert "pip install --no-cache-dir -c requirements.lock -r requirements.txt" in step.arguments
    assert "COPY pyproject.toml requirements.lock ./" in [
        f"COPY {i.arguments}" for i in parse() if i.stage == "deps" and i.keyword == "COPY"
    ]
    # Installed in a stage before the sources are copied: a code change reuses the layer.
    instructions = parse()
    assert not [i for i in instructions if i.stage == "deps" and i.arguments == ". ."]
    assert "deps" in lineage("build", instructions)


def test_train_target_adds_the_train_extra_and_the_runtime_does_not(tmp_path: Path) -> None:
    instructions = parse()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    train = set(project["optional-dependencies"]["train"])
    [step] = requirement_steps("train-deps")
    assert set(requirements_printed(step, tmp_path)) >= train
    assert "pip install --no-cache-dir -c requirements.lock -r train-requirements.txt" in (
        step.arguments
    )
    # torch first, pinned, from the index the build argument names (CPU or a CUDA build).
    args = {i.arguments.split("=")[0]: i.arguments for i in instructions if i.keyword == "ARG"}
    assert args["TORCH_INDEX_URL"].endswith("/whl/cpu")
    assert '--index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"' in step.arguments
    assert "train-deps" in lineage("train-build", instructions)
    # Each image takes only its own build: the runtime never sees torch's stage.
    [train_copy] = [i.arguments for i in instructions if i.stage == "train" and i.keyword == "COPY"]
    assert train_copy.startswith("--from=train-build ")
    runtime = instructions[-1].stage
    assert runtime == "runtime"
    sources = [
        i.arguments.split()[0].removeprefix("--from=")
        for i in instructions
        if i.stage == runtime and i.keyword == "COPY"
    ]
    for source in [runtime, *sources]:
        assert "train-deps" not in lineage(source, instructions), source
    # Both run as the manifests' user, with the same entry point.
    for stage in ("train", runtime):
        staged = [i for i in instructions if i.stage == stage]
        assert [i.arguments for i in staged if i.keyword == "USER"] == ["10001:10001"]
        assert [i.exec_form() for i in staged if i.keyword == "ENTRYPOINT"] == [["tandem"]]
    [command] = [i.exec_form() for i in instructions if i.stage == "train" and i.keyword == "CMD"]
    assert command[0] in subcommands()
    # The header says how to build both.
    header = DOCKERFILE.read_text().split("FROM", 1)[0]
    assert "docker build --target train -t tandem-train:dev ." in header
    assert "docker build -t tandem:dev ." in header


def test_build_context_leaves_out_tests_benchmarks_and_local_state() -> None:
    ignored = set(ignored_patterns())
    for path in ("tests", "bench", ".git", ".venv", "web/node_modules", "data", "manifests"):
        assert path in ignored, f"{path} is sent to the Docker build"


IMPORT_CHECK = """
import server.cli, server.web_routes
parser = server.cli.build_parser()
[action] = [a for a in parser._actions if a.dest == "command"]
print(server.cli.__file__)
print(server.web_routes.DEFAULT_DIST)
print(" ".join(sorted(action.choices)))
"""


def test_build_context_holds_everything_tandem_imports(tmp_path: Path) -> None:
    """The build stage as the Dockerfile lays it out (context in /app, web/ removed): the CLI
    imports from there alone and looks for the bundle at /app/web/dist."""
    app = build_context(tmp_path / "app")
    assert not (app / "tests").exists() and (app / "pyproject.toml").exists()
    shutil.rmtree(app / "web", ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    cli_file, dist, commands = done.stdout.splitlines()
    assert Path(cli_file).is_relative_to(app), f"imported from outside the context: {cli_file}"
    assert Path(dist) == app / "web" / "dist"
    assert "serve" in commands.split()
