"""Reading Kubernetes objects: pure functions over the JSON the API server returns.

Everything that digs into a live object's dicts lives here (and in :mod:`.rollout`), so the
reconciler and the routing code read like what they decide, and each reader is unit-tested
on plain data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from meshploy_core.kube.spec import ANNOTATION_DEPLOYMENT, LABEL_PROJECT_ID, LABEL_SERVICE

Obj = dict[str, Any]


def meta(obj: Obj | None) -> Obj:
    """``metadata`` of an object ({} when absent)."""
    return (obj or {}).get("metadata") or {}


def name_of(obj: Obj) -> str:
    """The object's name."""
    return str(meta(obj).get("name", ""))


def labels_of(obj: Obj | None) -> dict[str, str]:
    """The object's labels."""
    return meta(obj).get("labels") or {}


def annotations_of(obj: Obj | None) -> dict[str, str]:
    """The object's annotations."""
    return meta(obj).get("annotations") or {}


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp as Kubernetes writes it (``Z`` suffix), or None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- Deployments --------------------------------------------------------------------------


def template_deployment_id(deployment: Obj | None) -> str | None:
    """The Meshploy deployment id stamped on a Deployment's pod template."""
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    found = annotations_of(template).get(ANNOTATION_DEPLOYMENT)
    return str(found) if found is not None else None


def template_images(deployment: Obj) -> list[str]:
    """The images of the pod template's containers, in order."""
    template = (deployment.get("spec") or {}).get("template") or {}
    return [str(c.get("image")) for c in (template.get("spec") or {}).get("containers") or []]


def replicas(deployment: Obj) -> int | None:
    """The desired replica count of a Deployment."""
    value = (deployment.get("spec") or {}).get("replicas")
    return int(value) if value is not None else None


# -- Pods ---------------------------------------------------------------------------------


def pod_deployment_id(pod: Obj) -> str | None:
    """Which Meshploy deployment started this pod."""
    found = annotations_of(pod).get(ANNOTATION_DEPLOYMENT)
    return str(found) if found is not None else None


def pods_of_deployment(pods: list[Obj], deployment_id: str) -> list[Obj]:
    """The pods a given deployment started."""
    return [p for p in pods if pod_deployment_id(p) == deployment_id]


def pod_service(pod: Obj) -> str | None:
    """The Meshploy service a pod belongs to."""
    return labels_of(pod).get(LABEL_SERVICE)


def pod_node(pod: Obj) -> str | None:
    """The node the pod was scheduled to, if any."""
    return (pod.get("spec") or {}).get("nodeName")


def pod_is_ready(pod: Obj) -> bool:
    """Ready condition True and not being deleted."""
    if meta(pod).get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_summary(pod: Obj) -> str:
    """One readable line: ``pod web-1 on node-a: Running, ready, app waiting: ...``."""
    status = pod.get("status") or {}
    parts = [
        f"pod {name_of(pod)} on {pod_node(pod) or 'unscheduled'}: {status.get('phase', 'Pending')}"
    ]
    if pod_is_ready(pod):
        parts.append("ready")
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            parts.append(f"{cs.get('name')} waiting: {waiting['reason']}")
    return ", ".join(parts)


# -- Events -------------------------------------------------------------------------------


def event_time(event: Obj) -> datetime | None:
    """When an Event last happened."""
    return parse_time(event.get("lastTimestamp") or event.get("eventTime"))


def events_about(
    events: list[Obj], pod_names: set[str], service: str, since: datetime
) -> list[Obj]:
    """Events about the given pods, or the service's Deployment/ReplicaSets, since ``since``
    (a second of slack for clock rounding)."""
    found = []
    for event in events:
        involved = event.get("involvedObject") or {}
        about_pod = involved.get("name") in pod_names
        about_rollout = involved.get("kind") in ("Deployment", "ReplicaSet") and str(
            involved.get("name", "")
        ).startswith(service)
        if not (about_pod or about_rollout):
            continue
        when = event_time(event)
        if when is not None and when < since - timedelta(seconds=1):
            continue
        found.append(event)
    return found


def event_line(event: Obj) -> str:
    """``Kind/name: Reason: message`` for a deployment's log."""
    involved = event.get("involvedObject") or {}
    return (
        f"{involved.get('kind')}/{involved.get('name')}: {event.get('reason')}: "
        f"{str(event.get('message', '')).strip()}"
    )


def event_key(event: Obj) -> str:
    """Identifies one occurrence of an Event (its uid and count), for de-duplication."""
    return f"k8s:{meta(event).get('uid')}:{event.get('count', 1)}"


def event_is_warning(event: Obj) -> bool:
    """Whether Kubernetes classed the Event as a warning."""
    return event.get("type") == "Warning"


# -- Nodes and Services -------------------------------------------------------------------


def node_addresses(nodes: list[Obj]) -> dict[str, str]:
    """``{node name: InternalIP}`` for every node whose Ready condition is True."""
    ready: dict[str, str] = {}
    for node in nodes:
        status = node.get("status") or {}
        is_ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        ip = next(
            (
                a.get("address")
                for a in status.get("addresses") or []
                if a.get("type") == "InternalIP"
            ),
            None,
        )
        if is_ready and ip:
            ready[name_of(node)] = ip
    return ready


def node_port(service: Obj | None) -> int | None:
    """The NodePort of the Service's first port, if assigned."""
    if not service:
        return None
    ports = (service.get("spec") or {}).get("ports") or []
    value = ports[0].get("nodePort") if ports else None
    return int(value) if value else None


def namespace_project_id(namespace: Obj) -> str | None:
    """The Meshploy project a namespace belongs to."""
    return labels_of(namespace).get(LABEL_PROJECT_ID)


def is_terminating(obj: Obj) -> bool:
    """Whether deletion has started."""
    return bool(meta(obj).get("deletionTimestamp"))


# -- Jobs and CronJobs --------------------------------------------------------------------


def cronjob_drift(live: Obj | None, wanted: Obj) -> str | None:
    """How a live CronJob differs from the rendered one, in words; None if it does not."""
    if live is None:
        return "the CronJob was deleted"
    spec, want = live.get("spec") or {}, wanted["spec"]
    for key in ("schedule", "timeZone", "suspend", "concurrencyPolicy"):
        if spec.get(key) != want.get(key):
            return f"{key} changed to {spec.get(key)!r}"
    pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    images = [str(c.get("image")) for c in (pod or {}).get("containers") or []]
    wanted_images = [
        c["image"] for c in want["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    ]
    if images != wanted_images:
        return f"image changed to {', '.join(images)}"
    key = "meshploy.com/spec-hash"
    if annotations_of(live).get(key) != annotations_of(wanted).get(key):
        return "its definition changed"
    return None


def job_phase(job: Obj) -> tuple[str, str | None]:
    """``(status, reason)`` of a Kubernetes Job: pending, running, succeeded or failed, with
    the reason Kubernetes gives for a failure (``BackoffLimitExceeded: ...``)."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return "succeeded", None
        if cond.get("type") == "Failed":
            reason = str(cond.get("reason") or "Failed")
            message = str(cond.get("message") or "").strip()
            return "failed", f"{reason}: {message}" if message else reason
    if status.get("active") or status.get("startTime"):
        return "running", None
    return "pending", None


def job_times(job: Obj) -> tuple[datetime | None, datetime | None]:
    """When a Job started and finished (completion, or the Failed condition's time)."""
    status = job.get("status") or {}
    finished = parse_time(status.get("completionTime"))
    if finished is None:
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                finished = parse_time(cond.get("lastTransitionTime"))
    return parse_time(status.get("startTime")), finished


def job_name_of(pod: Obj) -> str | None:
    """The Job a pod belongs to."""
    return labels_of(pod).get("job-name") or labels_of(pod).get("batch.kubernetes.io/job-name")


def last_pod(pods: list[Obj]) -> Obj | None:
    """The most recently created pod (a Job's last attempt)."""
    if not pods:
        return None
    return max(pods, key=lambda p: (meta(p).get("creationTimestamp") or "", name_of(p)))


def pod_exit(pod: Obj) -> tuple[int | None, str | None]:
    """The first container's exit code and its reason (``Error``, ``OOMKilled``), or the
    waiting reason of a container that never started (``ImagePullBackOff: ...``)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = cs.get("state") or {}
        done = state.get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if done:
            code = done.get("exitCode")
            return (int(code) if code is not None else None), done.get("reason")
        waiting = state.get("waiting") or {}
        if waiting.get("reason"):
            message = str(waiting.get("message") or "").strip()
            reason = str(waiting["reason"])
            return None, f"{reason}: {message}" if message else reason
    return None, None
