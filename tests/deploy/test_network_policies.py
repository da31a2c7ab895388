"""Who may talk to whom, evaluated from the rendered NetworkPolicies."""

from __future__ import annotations

from tests.deploy.network import Address, Pod, Policies, pods
from tests.deploy.render import Obj

TANDEM = ("tandem-server", "tandem-assistant", "tandem-finetune", "tandem-model")
STORES = {"redis": 6379, "minio": 9000, "mongodb": 27017}
PUBLIC = Address("162.159.140.245")  # any public address (the Hub, a model API), on 443
MODEL_PORT = 8002
METADATA = Address("169.254.169.254")
INGRESS_CONTROLLER = Pod({"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")
DNS = Pod({"k8s-app": "kube-dns"}, "kube-system")
STRANGERS = (
    Pod({"app": "debug"}),  # an unlabelled pod in Tandem's namespace
    Pod({"app.kubernetes.io/component": "server"}, "default"),  # look-alike elsewhere
)


def test_only_tandem_workloads_reach_the_stores(minikube: list[Obj]) -> None:
    policies, workload = Policies(minikube), pods(minikube)
    for store, port in STORES.items():
        for name in TANDEM:
            assert policies.connects(workload[name], workload[store], port), (name, store)
        for other in STORES.keys() - {store}:
            assert not policies.connects(workload[other], workload[store], port), (other, store)
        for stranger in STRANGERS:
            assert not policies.connects(stranger, workload[store], port), (stranger, store)


def test_only_the_assistant_and_finetune_reach_the_model_server(minikube: list[Obj]) -> None:
    policies, workload = Policies(minikube), pods(minikube)
    model = workload["tandem-model"]
    for name, pod in workload.items():
        allowed = name in ("tandem-assistant", "tandem-finetune")
        assert policies.connects(pod, model, MODEL_PORT) is allowed, name
    for stranger in STRANGERS:
        assert not policies.connects(stranger, model, MODEL_PORT), stranger


def test_only_the_model_server_and_the_trainer_leave_the_cluster(minikube: list[Obj]) -> None:
    """For the base model's weights on the Hugging Face Hub, over HTTPS only."""
    policies, workload = Policies(minikube), pods(minikube)
    for name, pod in workload.items():
        allowed = name in ("tandem-model", "tandem-finetune")
        assert policies.connects(pod, PUBLIC, 443) is allowed, name
        assert not policies.connects(pod, METADATA, 443), name
        assert not policies.connects(pod, PUBLIC, 80), name


def test_an_external_model_lets_the_assistant_out_instead(external_model: list[Obj]) -> None:
    """components/external-model: no model server; the assistant and finetune call the
    provider's API, and nothing else leaves the cluster."""
    policies, workload = Policies(external_model), pods(external_model)
    assert "tandem-model" not in workload
    for name, pod in workload.items():
        allowed = name in ("tandem-assistant", "tandem-finetune")
        assert policies.connects(pod, PUBLIC, 443) is allowed, name
        assert not policies.connects(pod, METADATA, 443), name


def test_the_server_takes_traffic_from_the_ingress_controller_only(minikube: list[Obj]) -> None:
    policies, workload = Policies(minikube), pods(minikube)
    assert policies.connects(INGRESS_CONTROLLER, workload["tandem-server"], 8000)
    for stranger in STRANGERS:
        assert not policies.connects(stranger, workload["tandem-server"], 8000)
    assert not policies.connects(INGRESS_CONTROLLER, workload["redis"], 6379)


def test_every_pod_resolves_names(minikube: list[Obj]) -> None:
    policies = Policies(minikube)
    for name, pod in pods(minikube).items():
        assert policies.connects(pod, DNS, 53, "UDP"), name


def test_eks_reaches_managed_stores_in_the_vpc_and_not_the_internet(eks: list[Obj]) -> None:
    policies, workload = Policies(eks), pods(eks)
    assert set(workload) == set(TANDEM), "the managed-store components leave no store pods"
    vpc = Address("10.0.12.34")
    for name in TANDEM:
        for port in (6379, 443, 27017):  # Redis, S3 interface endpoint, MongoDB
            assert policies.connects(workload[name], vpc, port), (name, port)
    assert not policies.connects(workload["tandem-server"], PUBLIC, 443)
    assert not policies.connects(workload["tandem-assistant"], PUBLIC, 443)
    assert policies.connects(workload["tandem-assistant"], workload["tandem-model"], MODEL_PORT)
    # The ALB forwards from its addresses in the VPC.
    assert policies.connects(vpc, workload["tandem-server"], 8000)
    assert not policies.connects(Address("203.0.113.9"), workload["tandem-server"], 8000)
