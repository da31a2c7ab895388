"""Enough of NetworkPolicy semantics to ask "may A open a connection to B on port P?".

A pod is isolated in a direction when some policy of its namespace selects it with that policy
type; a connection needs the sender's egress and the receiver's ingress to allow it. Cluster
pods are matched by pod and namespace selectors; addresses outside the cluster by ipBlock
(whether an ipBlock also matches pod addresses depends on the network plugin: not assumed).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from tests.deploy.render import Obj, find, pod_template, workloads


@dataclass(frozen=True)
class Pod:
    labels: dict[str, str]
    namespace: str = "tandem"
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.namespace_labels.setdefault("kubernetes.io/metadata.name", self.namespace)


@dataclass(frozen=True)
class Address:
    ip: str


Peer = Pod | Address


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not labels.items() >= selector.get("matchLabels", {}).items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def _peer_matches(rule_peer: dict[str, Any], peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in rule_peer:
        if not isinstance(peer, Address):
            return False
        ip = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        inside = ip in ipaddress.ip_network(block["cidr"])
        return inside and not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if not isinstance(peer, Pod):
        return False
    if "namespaceSelector" in rule_peer:
        if not selects(rule_peer["namespaceSelector"], peer.namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return selects(rule_peer.get("podSelector", {}), peer.labels)


def _port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports
    )


class Policies:
    def __init__(self, objects: list[Obj]) -> None:
        self.policies = find(objects, "NetworkPolicy")

    def _allows(self, pod: Pod, direction: str, other: Peer, port: int, protocol: str) -> bool:
        kind = "Ingress" if direction == "ingress" else "Egress"
        selecting = [
            p
            for p in self.policies
            if p["metadata"].get("namespace", "default") == pod.namespace
            and kind in p["spec"].get("policyTypes", ["Ingress"])
            and selects(p["spec"]["podSelector"], pod.labels)
        ]
        if not selecting:
            return True  # not isolated in this direction
        peers_key = "from" if direction == "ingress" else "to"
        for policy in selecting:
            namespace = policy["metadata"].get("namespace", "default")
            for rule in policy["spec"].get(direction, []):
                peers = rule.get(peers_key)
                peer_ok = not peers or any(_peer_matches(p, other, namespace) for p in peers)
                if peer_ok and _port_matches(rule, port, protocol):
                    return True
        return False

    def connects(self, source: Peer, target: Peer, port: int, protocol: str = "TCP") -> bool:
        egress = not isinstance(source, Pod) or self._allows(
            source, "egress", target, port, protocol
        )
        ingress = not isinstance(target, Pod) or self._allows(
            target, "ingress", source, port, protocol
        )
        return egress and ingress


def pods(objects: list[Obj]) -> dict[str, Pod]:
    """Every workload's pod, by workload name, with its namespace's labels."""
    namespaces = {
        n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in find(objects, "Namespace")
    }
    found = {}
    for workload in workloads(objects):
        namespace = workload["metadata"]["namespace"]
        found[workload["metadata"]["name"]] = Pod(
            dict(pod_template(workload)["metadata"]["labels"]),
            namespace,
            dict(namespaces.get(namespace, {})),
        )
    return found
