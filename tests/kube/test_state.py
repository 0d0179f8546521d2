"""Pure readers of Kubernetes objects, and the drift check built on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from meshploy_core.deploys.reconciler.drift import drift_problem
from meshploy_core.kube import state
from meshploy_core.kube.spec import ANNOTATION_DEPLOYMENT, LABEL_SERVICE, WorkloadSpec

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _pod(name: str, dep: str, *, ready: bool, node: str | None = "n1", **meta: Any) -> Any:
    return {
        "metadata": {
            "name": name,
            "labels": {LABEL_SERVICE: "web"},
            "annotations": {ANNOTATION_DEPLOYMENT: dep},
            **meta,
        },
        "spec": {"nodeName": node} if node else {},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]
            if not ready
            else [],
        },
    }


def test_pods_of_a_deployment_and_their_summary() -> None:
    pods = [_pod("a", "d1", ready=True), _pod("b", "d2", ready=False, node=None)]
    assert [state.name_of(p) for p in state.pods_of_deployment(pods, "d2")] == ["b"]
    assert state.pod_summary(pods[0]) == "pod a on n1: Running, ready"
    assert state.pod_summary(pods[1]) == (
        "pod b on unscheduled: Running, app waiting: CrashLoopBackOff"
    )
    terminating = _pod("c", "d1", ready=True, deletionTimestamp="2026-12-02T12:00:00Z")
    assert not state.pod_is_ready(terminating) and state.pod_is_ready(pods[0])


def test_events_about_the_pods_or_rollout_since_a_time() -> None:
    def ev(kind: str, name: str, when: datetime, uid: str) -> dict[str, Any]:
        return {
            "metadata": {"uid": uid},
            "involvedObject": {"kind": kind, "name": name},
            "reason": "Pulled",
            "message": " ok \n",
            "type": "Normal",
            "lastTimestamp": when.isoformat().replace("+00:00", "Z"),
        }

    events = [
        ev("Pod", "a", NOW, "1"),
        ev("ReplicaSet", "web-5d9", NOW, "2"),
        ev("Pod", "other", NOW, "3"),
        ev("Pod", "a", NOW - timedelta(minutes=5), "4"),
    ]
    found = state.events_about(events, {"a"}, "web", NOW - timedelta(seconds=30))
    assert [state.meta(e)["uid"] for e in found] == ["1", "2"]
    assert state.event_line(found[0]) == "Pod/a: Pulled: ok"
    assert state.event_key(found[0]) == "k8s:1:1" and not state.event_is_warning(found[0])


def test_node_addresses_only_of_ready_nodes_and_node_ports() -> None:
    def node(name: str, ready: str, ip: str | None) -> dict[str, Any]:
        addresses = [{"type": "InternalIP", "address": ip}] if ip else []
        return {
            "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready}], "addresses": addresses},
        }

    nodes = [
        node("a", "True", "100.64.0.2"),
        node("b", "False", "100.64.0.3"),
        node("c", "True", None),
    ]
    assert state.node_addresses(nodes) == {"a": "100.64.0.2"}
    assert state.node_port({"spec": {"ports": [{"nodePort": 31000}]}}) == 31000
    assert state.node_port({"spec": {"ports": [{}]}}) is None and state.node_port(None) is None


def _spec() -> WorkloadSpec:
    return WorkloadSpec(
        org_slug="o", project_slug="p", namespace="p-1", service="web", image="web:2", port=80
    )


def _live(dep: str = "d1", image: str = "web:2", replicas: int = 1) -> dict[str, Any]:
    return {
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"annotations": {ANNOTATION_DEPLOYMENT: dep}},
                "spec": {"containers": [{"image": image}]},
            },
        }
    }


def test_drift_problem_names_what_changed() -> None:
    spec = _spec()
    assert drift_problem(_live(), True, spec, "d1") is None
    assert drift_problem(None, True, spec, "d1") == "the Deployment was deleted"
    assert drift_problem(_live(replicas=3), True, spec, "d1") == "replicas changed to 3"
    assert drift_problem(_live(dep="other"), True, spec, "d1") == "the pod template was replaced"
    assert drift_problem(_live(image="evil:1"), True, spec, "d1") == "image changed to evil:1"
    assert drift_problem(_live(), False, spec, "d1") == "the Service was deleted"
