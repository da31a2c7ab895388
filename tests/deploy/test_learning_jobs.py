"""The learning loop in the cluster: the daily Indexed Job trains one shard per index, on GPUs
in EKS and on CPU in minikube, and the model server serves every workspace's adapter."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from server.settings import Settings
from tests.deploy.render import (
    EnvValue,
    Obj,
    SecretRef,
    containers,
    environment,
    find,
    image_name,
    one,
    pod_template,
    resolve,
    tandem_workloads,
    workloads,
)
from tests.deploy.tools import ROOT

OVERLAYS = ["minikube", "eks"]
GPU = "nvidia.com/gpu"
LoadSettings = Callable[[list[Obj], Obj], Settings]


@pytest.fixture(scope="module")
def settings_of(minikube: list[Obj]) -> LoadSettings:
    """The settings a container's process loads. EKS's Secrets are made outside git with the
    names and keys of minikube's generated ones, so their values are taken from those."""
    generated = {s["metadata"]["name"]: s for s in find(minikube, "Secret")}

    def value(objects: list[Obj], v: EnvValue) -> str:
        if isinstance(v, SecretRef) and v.name not in generated:
            [name] = [n for n in generated if n.rpartition("-")[0] == v.name]
            return resolve(minikube, SecretRef(name, v.key), "pod-0")
        return resolve(objects, v, "pod-0")

    def load(objects: list[Obj], container: Obj) -> Settings:
        env = environment(objects, container)
        return Settings.load(env={k: value(objects, v) for k, v in env.items()})

    return load


def finetune(objects: list[Obj]) -> tuple[Obj, Obj]:
    cron = one(objects, "CronJob", "tandem-finetune")
    [container] = containers(cron)
    return cron, container


def gpus(container: Obj) -> int:
    return int(container["resources"].get("limits", {}).get(GPU, 0))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_index_trains_one_shard_and_a_failed_shard_stops_no_other(
    overlay: str, rendered: dict[str, list[Obj]], settings_of: LoadSettings
) -> None:
    objects = rendered[overlay]
    cron, container = finetune(objects)
    job = cron["spec"]["jobTemplate"]["spec"]
    shards = settings_of(objects, container).ft_shards
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == shards, "one index per shard of TANDEM_FT_SHARDS"
    assert job["maxFailedIndexes"] == shards
    assert 1 <= job["parallelism"] <= shards
    # A killed pod is retried on its own index and resumes from its checkpoint.
    assert job["backoffLimitPerIndex"] >= 1
    assert pod_template(cron)["spec"]["restartPolicy"] == "Never"


def test_a_settings_error_fails_its_index_without_retries(minikube: list[Obj]) -> None:
    """The Job's FailIndex rule matches the exit code `tandem finetune` really gives for a
    bad setting."""
    cron, _ = finetune(minikube)
    [rule] = [
        r
        for r in cron["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
        if r["action"] == "FailIndex"
    ]
    env = {**os.environ, "TANDEM_FT_TRAINER": "no-such-trainer"}
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "finetune"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "TANDEM_FT_TRAINER" in done.stderr
    assert rule["onExitCodes"]["operator"] == "In"
    assert rule["onExitCodes"]["values"] == [done.returncode]


def test_eks_trains_and_serves_on_the_gpu_node_group(
    eks: list[Obj], settings_of: LoadSettings
) -> None:
    cron, container = finetune(eks)
    model = one(eks, "Deployment", "tandem-model")
    [vllm] = [c for c in containers(model) if c["name"] == "vllm"]
    for workload, gpu_container in ((cron, container), (model, vllm)):
        spec = pod_template(workload)["spec"]
        assert spec["nodeSelector"] == {"tandem.dev/gpu": "true"}
        assert {"key": GPU, "operator": "Equal", "value": "present", "effect": "NoSchedule"} in (
            spec["tolerations"]
        )
        resources = gpu_container["resources"]
        assert resources["requests"][GPU] == resources["limits"][GPU] >= 1
    # torchrun starts one process per GPU of the pod, no more.
    assert settings_of(eks, container).ft_processes <= gpus(container)


def test_minikube_runs_everything_on_cpu(minikube: list[Obj]) -> None:
    for workload in workloads(minikube):
        for container in containers(workload):
            assert not gpus(container), workload["metadata"]["name"]
        assert "nodeSelector" not in pod_template(workload)["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_training_and_model_serving_carry_torch(
    overlay: str, rendered: dict[str, list[Obj]]
) -> None:
    """The train image (torch, transformers, peft, trl) runs `finetune` and `model serve`;
    the sync pods, the assistant and vLLM's sidecar keep the small runtime image."""
    for workload, container in tandem_workloads(rendered[overlay]):
        args = container["args"]
        trains = args[0] == "finetune" or args[:2] == ["model", "serve"]
        expected = "tandem-train" if trains else "tandem"
        assert image_name(container) == expected, (workload["metadata"]["name"], args)


def test_vllm_serves_every_adapter_the_sidecar_mirrors(
    eks: list[Obj], settings_of: LoadSettings
) -> None:
    model = one(eks, "Deployment", "tandem-model")
    by_name = {c["name"]: c for c in containers(model)}
    vllm, sync = by_name["vllm"], by_name["adapter-sync"]
    flags = dict(a.removeprefix("--").partition("=")[::2] for a in vllm["args"])
    env = environment(eks, vllm)
    trainer = settings_of(eks, finetune(eks)[1])
    assert "enable-lora" in flags
    # Every adapter the trainer makes fits.
    assert int(flags["max-lora-rank"]) >= trainer.ft_lora_rank
    # Served under the id the assistant asks for and the resolver checks adapters against.
    assert flags["served-model-name"] == flags["model"] == "$(TANDEM_BASE_MODEL)"
    assert resolve(eks, env["TANDEM_BASE_MODEL"], "pod-0") == trainer.base_model
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "true"
    assert env["VLLM_PLUGINS"] == "lora_filesystem_resolver"
    # The resolver reads the directory the sidecar fills, on the same volume.
    directory = str(env["VLLM_LORA_RESOLVER_CACHE_DIR"])
    sync_args = sync["args"]
    assert sync_args[:2] == ["model", "sync"]
    assert sync_args[sync_args.index("--dir") + 1] == directory
    mounts = {
        name: {m["mountPath"]: m["name"] for m in c["volumeMounts"]} for name, c in by_name.items()
    }
    assert mounts["vllm"][directory] == mounts["adapter-sync"][directory]
    # A promotion reaches every replica within a minute.
    assert float(sync_args[sync_args.index("--interval") + 1]) <= 60


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_assistant_and_the_gate_ask_the_model_server(
    overlay: str, rendered: dict[str, list[Obj]], settings_of: LoadSettings
) -> None:
    objects = rendered[overlay]
    port = one(objects, "Service", "tandem-model")["spec"]["ports"][0]["port"]
    for workload, container in tandem_workloads(objects):
        if container["args"][0] in ("assistant", "finetune"):
            settings = settings_of(objects, container)
            assert settings.openai_base_url == f"http://tandem-model:{port}/v1"
            assert settings.openai_model == settings.base_model, workload["metadata"]["name"]


def test_an_external_model_needs_no_train_image(
    external_model: list[Obj], settings_of: LoadSettings
) -> None:
    _, container = finetune(external_model)
    assert image_name(container) == "tandem"
    assert settings_of(external_model, container).ft_trainer == "openai-jobs"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_ingress_may_name_the_client(
    overlay: str, rendered: dict[str, list[Obj]], settings_of: LoadSettings
) -> None:
    """X-Forwarded-For is believed from the proxy's addresses; in EKS those are the ones the
    server's NetworkPolicy lets in (the ALB's, in the VPC)."""
    objects = rendered[overlay]
    [(_, server)] = [(w, c) for w, c in tandem_workloads(objects) if c["args"][0] == "serve"]
    networks = [ipaddress.ip_network(n) for n in settings_of(objects, server).proxies]
    assert networks and all(n.prefixlen >= 8 for n in networks)
    if overlay == "eks":
        policy = one(objects, "NetworkPolicy", "server-from-ingress")
        for peer in policy["spec"]["ingress"][0]["from"]:
            allowed = ipaddress.ip_network(peer["ipBlock"]["cidr"])
            assert any(allowed.subnet_of(n) for n in networks), allowed
