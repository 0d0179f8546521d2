"""Judge a rollout from what Kubernetes reports. Pure: objects in, verdict out.

A deployment is *healthy* only when Kubernetes says the rollout completed: the controller has
observed the new generation, every replica is updated, available and ready, and no old
replica remains. It *fails* with a reason read from Kubernetes: image pull errors, crash
loops, unschedulable pods, or the Deployment's own progress deadline.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meshploy_core.kube.state import meta, parse_time, pods_of_deployment, template_deployment_id

#: Registry answers that mean "not with these credentials" (as containerd words them).
_AUTH_FAILURE = re.compile(r"\b(401|403)\b|unauthori[sz]ed|authorization failed|denied", re.I)
IMAGE_PULL_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
    }
)
CRASH_REASONS = frozenset({"CrashLoopBackOff"})
CONFIG_REASONS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)


class Phase(enum.Enum):
    """Where a rollout stands."""

    PROGRESSING = "progressing"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class RolloutVerdict:
    """The verdict, a short machine reason and a readable message."""

    phase: Phase
    reason: str
    message: str
    ready: int = 0
    desired: int = 0


def pod_failure(
    pod: dict[str, Any], now: datetime, unschedulable_grace: float
) -> RolloutVerdict | None:
    """Why this pod can never become ready, if Kubernetes says so."""
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name", "?")
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason") or ""
        message = (waiting.get("message") or "").strip()
        created = parse_time(meta(pod).get("creationTimestamp"))
        young = created is not None and (now - created).total_seconds() < unschedulable_grace
        if reason in IMAGE_PULL_REASONS and young and _AUTH_FAILURE.search(message):
            # A new pod's first pull can go out before the kubelet may read its pull Secret
            # (the Node authorizer learns of the pod asynchronously); the kubelet retries with
            # it. Only a refusal that lasts is a failure.
            continue
        if reason in IMAGE_PULL_REASONS:
            return RolloutVerdict(
                Phase.FAILED,
                "image_pull",
                f"image pull failed for {cs.get('image', '?')} ({reason}): {message}".rstrip(": "),
            )
        if reason in CRASH_REASONS:
            last = ((cs.get("lastState") or {}).get("terminated")) or {}
            exit_code = last.get("exitCode")
            detail = f"; last exit code {exit_code}" if exit_code is not None else ""
            return RolloutVerdict(
                Phase.FAILED,
                "crash_loop",
                f"container {cs.get('name', '?')} in pod {name} is crash-looping "
                f"(restarted {cs.get('restartCount', 0)} times{detail})",
            )
        # The kubelet reports these while a Secret is still on its way; only a lasting one
        # is a failure.
        if reason in CONFIG_REASONS and not young:
            return RolloutVerdict(
                Phase.FAILED,
                "container_config",
                f"container {cs.get('name', '?')} cannot start ({reason}): {message}",
            )
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            since = parse_time(cond.get("lastTransitionTime"))
            if since is None or (now - since).total_seconds() >= unschedulable_grace:
                return RolloutVerdict(
                    Phase.FAILED,
                    "unschedulable",
                    f"pod {name} cannot be scheduled: {cond.get('message', '').strip()}",
                )
    return None


def evaluate(
    deployment: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    deployment_id: str,
    now: datetime,
    unschedulable_grace: float = 20.0,
) -> RolloutVerdict:
    """Judge the rollout of ``deployment_id`` from the Deployment and its pods."""
    if deployment is None:
        return RolloutVerdict(Phase.PROGRESSING, "missing", "Deployment not created yet")
    metadata, spec, status = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    desired = int(spec.get("replicas", 1))
    template_id = template_deployment_id(deployment)
    if template_id != deployment_id:
        return RolloutVerdict(
            Phase.FAILED,
            "superseded",
            f"the Deployment now runs deployment {template_id}, not {deployment_id}",
        )
    ready = int(status.get("readyReplicas") or 0)
    if int(status.get("observedGeneration") or 0) < int(metadata.get("generation") or 0):
        return RolloutVerdict(
            Phase.PROGRESSING, "waiting", "waiting for the controller", ready, desired
        )
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutVerdict(
                Phase.FAILED,
                "progress_deadline",
                f"progress deadline exceeded: {cond.get('message', '').strip()}",
                ready,
                desired,
            )
    ours = pods_of_deployment(pods, deployment_id)
    for pod in ours:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        failure = pod_failure(pod, now, unschedulable_grace)
        if failure is not None:
            return RolloutVerdict(failure.phase, failure.reason, failure.message, ready, desired)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    if updated >= desired and available >= desired and ready >= desired and total <= desired:
        return RolloutVerdict(
            Phase.COMPLETE, "complete", f"{ready}/{desired} replicas ready", ready, desired
        )
    old = max(total - updated, 0)
    message = f"{ready}/{desired} ready, {updated} updated"
    if old:
        message += f", {old} old replica(s) still running"
    return RolloutVerdict(Phase.PROGRESSING, "rolling", message, ready, desired)
