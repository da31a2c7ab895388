"""The manifests match the application: settings it knows, settings it needs, probes it
answers, commands it has, and the operational promises of the README."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.assistant.worker_health import health_app
from server.cli import build_parser
from server.settings import Settings
from tests.deploy.dockerfile import parse
from tests.deploy.render import (
    TEST_MODEL_KEY,
    Obj,
    SecretRef,
    containers,
    environment,
    find,
    one,
    pod_template,
    resolve,
    tandem_workloads,
    workloads,
)

# What each process cannot run without in cluster mode. Credentials come from Secrets only.
STORES = {
    "TANDEM_REDIS_URL",
    "TANDEM_S3_ENDPOINT",
    "TANDEM_S3_BUCKET",
    "TANDEM_S3_ACCESS_KEY",
    "TANDEM_S3_SECRET_KEY",
    "TANDEM_MONGODB_URL",
}
REQUIRED = {
    "serve": STORES | {"TANDEM_JWT_SECRET"},
    "assistant": STORES | {"TANDEM_OPENAI_API_KEY"},
    # The local trainer: the base model to train on, no provider key.
    "finetune": STORES | {"TANDEM_BASE_MODEL"},
    "model serve": STORES | {"TANDEM_BASE_MODEL"},
    # vLLM's sidecar (EKS): the registry in MongoDB, the adapters in object storage.
    "model sync": STORES | {"TANDEM_BASE_MODEL"},
}
SECRET_SETTINGS = {
    "TANDEM_REDIS_URL",
    "TANDEM_S3_ACCESS_KEY",
    "TANDEM_S3_SECRET_KEY",
    "TANDEM_MONGODB_URL",
    "TANDEM_JWT_SECRET",
    "TANDEM_OPENAI_API_KEY",
    "TANDEM_FT_API_KEY",
}
MODEL_SECRET = "tandem-model-api"
HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


def subcommands(parser: argparse.ArgumentParser | None = None) -> dict[str, Any]:
    """The parser's subcommands by name, each with its own parser."""
    parser = parser or build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices or {})


def command_of(container: Obj) -> str:
    """`serve`, `finetune`, ...; `model serve` for a command with subcommands of its own."""
    args = [a for a in container.get("args") or [""] if not a.startswith("-")]
    return " ".join(args[:2]) if args[0] == "model" else args[0]


def base_name(secret: str) -> str:
    """A generated Secret's name without kustomize's content hash."""
    return HASH_SUFFIX.sub("", secret)


@pytest.mark.parametrize("overlay", ["minikube", "eks"])
def test_every_tandem_variable_set_is_a_known_setting(
    overlay: str, rendered: dict[str, list[Obj]]
) -> None:
    objects = rendered[overlay]
    known = Settings.known_env_names()
    used: set[str] = set()
    for config_map in find(objects, "ConfigMap"):
        used |= set(config_map.get("data", {}))
    for _, container in tandem_workloads(objects):
        used |= set(environment(objects, container))
    # The image's own defaults count too.
    used |= {
        word.split("=")[0]
        for i in parse()
        if i.keyword == "ENV"
        for word in i.arguments.split()
        if "=" in word
    }
    unknown = {name for name in used if name.startswith("TANDEM_")} - known
    assert not unknown, f"settings the app does not know: {sorted(unknown)}"


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_image_commands_are_real_subcommands(command: str, rendered: dict[str, list[Obj]]) -> None:
    commands = {
        command_of(c) for objects in rendered.values() for _, c in tandem_workloads(objects)
    }
    assert command in commands, f"no workload runs `tandem {command}`"
    first, _, second = command.partition(" ")
    assert first in subcommands(), (
        f"the manifests run `tandem {command}`, but server/cli.py has no such subcommand "
        f"(it has: {sorted(subcommands())})"
    )
    if second:
        assert second in subcommands(subcommands()[first]), f"`tandem {first}` has no {second}"


@pytest.mark.parametrize("overlay", ["minikube", "eks"])
def test_every_required_setting_is_set_and_credentials_come_from_secrets(
    overlay: str, rendered: dict[str, list[Obj]]
) -> None:
    objects = rendered[overlay]
    for workload, container in tandem_workloads(objects):
        env = environment(objects, container)
        missing = REQUIRED[command_of(container)] - set(env)
        assert not missing, f"{workload['metadata']['name']} lacks {sorted(missing)}"
        for name in SECRET_SETTINGS & set(env):
            assert isinstance(env[name], SecretRef), f"{name} must come from a Secret"


def test_minikube_environment_loads_as_valid_settings(minikube: list[Obj]) -> None:
    for workload, container in tandem_workloads(minikube):
        env = environment(minikube, container)
        values = {k: resolve(minikube, v, "tandem-pod-0") for k, v in env.items()}
        settings = Settings.load(env=values)
        assert not settings.embedded
        # Reachable by the Service and the kubelet, not loopback only.
        if command_of(container) == "model serve":
            assert settings.model_host == "0.0.0.0"
        else:
            assert settings.host == "0.0.0.0"
        assert settings.pod_id == "tandem-pod-0"
        if command_of(container) == "assistant":
            assert settings.openai_api_key == TEST_MODEL_KEY


def test_eks_needs_the_same_secrets_as_minikube_generates(
    minikube: list[Obj], eks: list[Obj]
) -> None:
    """EKS's Secrets are made outside git: they must have the names and keys minikube's have."""

    def referenced(objects: list[Obj]) -> set[tuple[str, str]]:
        return {
            (base_name(v.name), v.key)
            for w in workloads(objects)
            for c in containers(w)
            for v in environment(objects, c).values()
            if isinstance(v, SecretRef)
        }

    generated = {
        (base_name(s["metadata"]["name"]), key)
        for s in find(minikube, "Secret")
        for key in s.get("data", {})
    }
    assert not find(eks, "Secret"), "EKS Secrets must not be rendered from git"
    assert referenced(eks) <= generated
    assert referenced(minikube) <= generated


def test_only_the_assistant_holds_the_model_api_key(minikube: list[Obj]) -> None:
    holders = {
        w["metadata"]["name"]
        for w in workloads(minikube)
        for c in containers(w)
        for v in environment(minikube, c).values()
        if isinstance(v, SecretRef) and base_name(v.name) == MODEL_SECRET
    }
    volumes = {
        w["metadata"]["name"]
        for w in workloads(minikube)
        for v in pod_template(w)["spec"].get("volumes", [])
        if base_name(v.get("secret", {}).get("secretName", "")) == MODEL_SECRET
    }
    assert holders == {"tandem-assistant"} and not volumes


def test_probes_are_answered_by_the_app_on_the_configured_port(
    minikube: list[Obj], tmp_path: Path
) -> None:
    [(_, container)] = [(w, c) for w, c in tandem_workloads(minikube) if command_of(c) == "serve"]
    env = environment(minikube, container)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = [container[k] for k in ("readinessProbe", "livenessProbe", "startupProbe")]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    settings = Settings.load(env={"TANDEM_DATA_DIR": str(tmp_path)})
    for probe in probes:
        assert ports[probe["httpGet"]["port"]] == int(str(env["TANDEM_PORT"])) == settings.port
    # The real app, in-process (embedded mode): each probed path answers 200.
    with TestClient(create_app(settings)) as client:
        for probe in probes:
            response = client.get(probe["httpGet"]["path"])
            assert response.status_code == 200, (probe, response.text)
        assert client.get("/metrics").status_code == 200


def test_the_assistant_probe_and_drain_fit_its_worker_settings(
    minikube: list[Obj],
) -> None:
    [(workload, container)] = [
        (w, c) for w, c in tandem_workloads(minikube) if command_of(c) == "assistant"
    ]
    env = environment(minikube, container)
    values = {k: resolve(minikube, v, "tandem-assistant-0") for k, v in env.items()}
    settings = Settings.load(env=values)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probe = container["livenessProbe"]["httpGet"]
    assert ports[probe["port"]] == settings.assistant_health_port
    with TestClient(health_app(lambda: True)) as client:  # what the worker serves there
        assert client.get(probe["path"]).status_code == 200
    assert settings.host == "0.0.0.0"  # reachable by the kubelet, not loopback only
    # SIGTERM drains jobs under way: the pod must live that long and a bit.
    grace = pod_template(workload)["spec"]["terminationGracePeriodSeconds"]
    assert settings.assistant_drain_s + 5 <= grace


def test_services_and_ingress_reach_named_ports_of_selected_pods(minikube: list[Obj]) -> None:
    for service in find(minikube, "Service"):
        selector = service["spec"]["selector"]
        targets = [
            w
            for w in workloads(minikube)
            if selector.items() <= pod_template(w)["metadata"]["labels"].items()
        ]
        assert targets, f"Service {service['metadata']['name']} selects no pods"
        names = {p["name"] for w in targets for c in containers(w) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names
    for ingress in find(minikube, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = one(minikube, "Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_ingress_keeps_websockets_open_for_an_hour(rendered: dict[str, list[Obj]]) -> None:
    nginx = one(rendered["minikube"], "Ingress", "tandem")["metadata"]["annotations"]
    assert int(nginx["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(nginx["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    # The proxy lets through what the server accepts, plus room for the request's framing.
    [container] = containers(one(rendered["minikube"], "Deployment", "tandem-server"))
    env = environment(rendered["minikube"], container)
    limit = int(str(env.get("TANDEM_MAX_UPLOAD_BYTES", Settings().max_upload_bytes)))
    body = nginx["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("m") and int(body[:-1]) * 1024 * 1024 >= limit + 1024 * 1024
    alb = one(rendered["eks"], "Ingress", "tandem")["metadata"]["annotations"]
    idle = alb["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert int(idle.split("idle_timeout.timeout_seconds=")[1].split(",")[0]) >= 3600
    assert not [k for k in alb if k.startswith("nginx.")]


@pytest.mark.parametrize("overlay", ["minikube", "eks"])
def test_shutdown_fits_in_the_termination_grace_period(
    overlay: str, rendered: dict[str, list[Obj]]
) -> None:
    objects = rendered[overlay]
    server = one(objects, "Deployment", "tandem-server")
    spec = pod_template(server)["spec"]
    [container] = spec["containers"]
    drain = float(str(environment(objects, container)["TANDEM_SHUTDOWN_GRACE_S"]))
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > pre_stop + drain


def test_server_is_replicated_autoscaled_disruption_budgeted_and_spread(
    rendered: dict[str, list[Obj]],
) -> None:
    for objects in rendered.values():
        server = one(objects, "Deployment", "tandem-server")
        assert server["spec"]["replicas"] >= 2
        hpa = one(objects, "HorizontalPodAutoscaler", "tandem-server")
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["scaleTargetRef"]["name"] == (
            "tandem-server"
        )
        pdb = one(objects, "PodDisruptionBudget", "tandem-server")
        labels = pod_template(server)["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        anti = pod_template(server)["spec"]["affinity"]["podAntiAffinity"]
        assert anti["preferredDuringSchedulingIgnoredDuringExecution"]
        assistant_hpa = one(objects, "HorizontalPodAutoscaler", "tandem-assistant")
        assert assistant_hpa["spec"]["scaleTargetRef"]["name"] == "tandem-assistant"
    assert (
        one(rendered["eks"], "HorizontalPodAutoscaler", "tandem-server")["spec"]["minReplicas"] >= 3
    )


def test_finetune_runs_daily_and_never_twice_at_once(minikube: list[Obj]) -> None:
    cron = one(minikube, "CronJob", "tandem-finetune")
    minute, hour, day, month, weekday = cron["spec"]["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*") and minute.isdigit() and hour.isdigit()
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    # The run may follow a provider's job to its end: the deadline must leave it that time.
    [container] = containers(cron)
    env = environment(minikube, container)
    job_timeout = float(str(env.get("TANDEM_FT_JOB_TIMEOUT_S", Settings().ft_job_timeout_s)))
    deadline = cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert job_timeout < deadline < 24 * 3600


def test_redis_keeps_every_acknowledged_update(minikube: list[Obj]) -> None:
    """README "Cluster mode": AOF on, fsync always (or everysec), no eviction."""
    [container] = containers(one(minikube, "StatefulSet", "redis"))
    args = container["args"]
    option = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    assert option["--appendonly"] == "yes"
    assert option["--appendfsync"] in ("always", "everysec")
    assert option["--maxmemory-policy"] == "noeviction" or option["--maxmemory-policy"].startswith(
        "volatile-"
    )
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == option["--dir"]]
    statefulset = one(minikube, "StatefulSet", "redis")
    claims = {t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]}
    assert mount["name"] in claims


def test_stores_keep_their_data_on_persistent_volumes(minikube: list[Obj]) -> None:
    data_paths = {"redis": "/data", "minio": "/data", "mongodb": "/data/db"}
    for name, path in data_paths.items():
        statefulset = one(minikube, "StatefulSet", name)
        claims = {t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]}
        [container] = containers(statefulset)
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts[path] in claims, f"{name} keeps {path} outside its PersistentVolume"


@pytest.mark.parametrize("overlay", ["minikube", "eks"])
def test_every_pod_is_hardened_and_sized(overlay: str, rendered: dict[str, list[Obj]]) -> None:
    for workload in workloads(rendered[overlay]):
        name = workload["metadata"]["name"]
        spec = pod_template(workload)["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name


@pytest.mark.parametrize("overlay", ["minikube", "eks"])
def test_images_are_pinned(overlay: str, rendered: dict[str, list[Obj]]) -> None:
    for workload in workloads(rendered[overlay]):
        for container in containers(workload):
            image = container["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert "@sha256:" in image or (tag and tag != "latest"), image
