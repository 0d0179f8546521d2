"""Render a Meshploy job as a Kubernetes CronJob, and a manual run as a Job made from it.
Pure functions: no IO, snapshot-tested (tests/kube/snapshots/).

Every run's pods carry ``meshploy.com/job-id``, so the reconciler finds runs (scheduled or
manual) with one label selector; manual Jobs also carry ``meshploy.com/run-id``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from meshploy_core.kube.manifests import docker_config
from meshploy_core.kube.spec import (
    LABEL_ORG,
    LABEL_PROJECT,
    MANAGED_BY,
    ROLE_LABEL,
    Resources,
    env_hash,
)

Manifest = dict[str, Any]
LABEL_JOB = "meshploy.com/job"
LABEL_JOB_ID = "meshploy.com/job-id"
LABEL_RUN_ID = "meshploy.com/run-id"
ANNOTATION_SPEC_HASH = "meshploy.com/spec-hash"
#: Finished Jobs stay this long so their status and logs can be read; runs are kept in
#: PostgreSQL for good (and their logs for the retention period).
FINISHED_TTL_SECONDS = 3600
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")


@dataclass(frozen=True)
class CronJobSpec:
    """Desired state of one job."""

    org_slug: str
    project_slug: str
    namespace: str
    job: str
    job_id: str
    image: str
    schedule: str
    time_zone: str = "UTC"
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env_keys: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    concurrency_policy: str = "Forbid"
    retries: int = 0
    deadline_seconds: int = 3600
    suspended: bool = False
    image_pull_secret: str | None = None


def _labels(spec: CronJobSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_ORG: spec.org_slug,
        LABEL_PROJECT: spec.project_slug,
        LABEL_JOB: spec.job,
        LABEL_JOB_ID: spec.job_id,
    }


def env_secret_name(job: str, env: dict[str, str]) -> str:
    """The job's env Secret: content-addressed, so a change is a new template."""
    return f"job-{job}-env-{env_hash(env)}"


def pull_secret_name(job: str) -> str:
    """The job's image pull Secret (updated in place)."""
    return f"job-{job}-registry"


def env_secret(spec: CronJobSpec, env: dict[str, str]) -> Manifest:
    """The Secret with the job's environment (values never inline in the pod)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": env_secret_name(spec.job, env),
            "namespace": spec.namespace,
            "labels": _labels(spec),
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(env.items())},
    }


def _resources(r: Resources) -> Manifest:
    out: dict[str, dict[str, str]] = {}
    for section, cpu, memory in (
        ("requests", r.cpu_request, r.memory_request),
        ("limits", r.cpu_limit, r.memory_limit),
    ):
        values = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
        if values:
            out[section] = values
    return out


def job_template(spec: CronJobSpec, env: dict[str, str]) -> Manifest:
    """The Job template: no restarts in place (each retry is a new pod with its own log),
    ``backoffLimit`` = retries, ``activeDeadlineSeconds`` = the deadline."""
    container: Manifest = {
        "name": spec.job,
        "image": spec.image,
        "imagePullPolicy": "Always",
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if env:
        container["envFrom"] = [{"secretRef": {"name": env_secret_name(spec.job, env)}}]
    resources = _resources(spec.resources)
    if resources:
        container["resources"] = resources
    pod: Manifest = {
        "restartPolicy": "Never",
        "containers": [container],
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "preference": {
                            "matchExpressions": [
                                {"key": ROLE_LABEL, "operator": "NotIn", "values": ["builder"]}
                            ]
                        },
                    }
                ]
            }
        },
    }
    if spec.image_pull_secret:
        pod["imagePullSecrets"] = [{"name": spec.image_pull_secret}]
    return {
        "metadata": {"labels": _labels(spec)},
        "spec": {
            "backoffLimit": spec.retries,
            "activeDeadlineSeconds": spec.deadline_seconds,
            "ttlSecondsAfterFinished": FINISHED_TTL_SECONDS,
            "template": {"metadata": {"labels": _labels(spec)}, "spec": pod},
        },
    }


def spec_hash(spec: CronJobSpec, env: dict[str, str]) -> str:
    """A hash of everything the CronJob is rendered from (drift and change detection)."""
    data = json.dumps([asdict(spec), env_hash(env)], sort_keys=True, default=list)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def cronjob(spec: CronJobSpec, env: dict[str, str]) -> Manifest:
    """The CronJob."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": spec.job,
            "namespace": spec.namespace,
            "labels": _labels(spec),
            "annotations": {ANNOTATION_SPEC_HASH: spec_hash(spec, env)},
        },
        "spec": {
            "schedule": spec.schedule,
            "timeZone": spec.time_zone,
            "concurrencyPolicy": spec.concurrency_policy,
            "suspend": spec.suspended,
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": job_template(spec, env),
        },
    }


def job_manifests(spec: CronJobSpec, env: dict[str, str]) -> list[Manifest]:
    """Everything a job applies, in order (its env Secret, then the CronJob)."""
    return [*([env_secret(spec, env)] if env else []), cronjob(spec, env)]


def manual_run_name(job: str, run_id: str) -> str:
    """The name of a manual run's Job (at most 63 characters: the job name is at most 52)."""
    return f"{job}-m{run_id.replace('-', '')[:8]}"


def manual_job(live_cronjob: Manifest, run_id: str) -> Manifest:
    """A Job made from the live CronJob's template now (what ``kubectl create job --from``
    does): owned by the CronJob, so it goes when the CronJob goes."""
    meta = live_cronjob["metadata"]
    template = live_cronjob["spec"]["jobTemplate"]
    labels = {**(template.get("metadata") or {}).get("labels", {}), LABEL_RUN_ID: run_id}
    spec = json.loads(json.dumps(template["spec"]))
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[LABEL_RUN_ID] = run_id
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": manual_run_name(meta["name"], run_id),
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def pull_secret(spec: CronJobSpec, server: str, username: str, password: str) -> Manifest:
    """The job's ``kubernetes.io/dockerconfigjson`` Secret (same format as a service's)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {
            "name": pull_secret_name(spec.job),
            "namespace": spec.namespace,
            "labels": _labels(spec),
        },
        "data": {".dockerconfigjson": docker_config(server, username, password)},
    }
