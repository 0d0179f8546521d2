"""The CronJob and manual-Job renderer is pure and snapshot-tested; readers of live Jobs,
pods and CronJobs are unit-tested on plain data."""

from __future__ import annotations

import json

from meshploy_core.kube import jobs as render
from meshploy_core.kube import state
from meshploy_core.kube.spec import Resources
from tests.kube.test_manifests import check_snapshot

SPEC = render.CronJobSpec(
    org_slug="acme",
    project_slug="web",
    namespace="web-0123abcd",
    job="nightly-cleanup",
    job_id="0123abcd-0000-4000-8000-00000000c0de",
    image="registry.example.com/api:1.2.3",
    schedule="30 2 * * *",
    time_zone="Europe/Paris",
    command=("/bin/sh", "-c"),
    args=("cleanup --older-than 30d",),
    env_keys=("DATABASE_URL",),
    resources=Resources(cpu_limit="500m", memory_limit="256Mi"),
    concurrency_policy="Forbid",
    retries=2,
    deadline_seconds=900,
    image_pull_secret="job-nightly-cleanup-registry",
)
ENV = {"DATABASE_URL": "postgres://db/app"}


def test_cronjob_snapshot() -> None:
    check_snapshot("job_manifests", render.job_manifests(SPEC, ENV))


def test_manual_job_snapshot() -> None:
    live = render.cronjob(SPEC, ENV)
    live["metadata"]["uid"] = "11111111-2222-4333-8444-555555555555"
    check_snapshot("manual_job", render.manual_job(live, "abcdef01-0000-4000-8000-000000000000"))


def test_env_values_never_inline_and_rendering_is_deterministic() -> None:
    text = json.dumps(render.cronjob(SPEC, ENV))
    assert "postgres://db/app" not in text
    assert render.job_manifests(SPEC, ENV) == render.job_manifests(SPEC, dict(ENV))
    changed = render.cronjob(SPEC, {"DATABASE_URL": "postgres://other/app"})
    key = render.ANNOTATION_SPEC_HASH
    assert (
        changed["metadata"]["annotations"][key] != json.loads(text)["metadata"]["annotations"][key]
    ), "a changed env must change the spec hash (so drift repair re-applies it)"


def test_manual_run_names_fit_kubernetes() -> None:
    name = render.manual_run_name("x" * 52, "abcdef01-0000-4000-8000-000000000000")
    assert len(name) <= 63 and name.endswith("-mabcdef01")


def test_cronjob_drift() -> None:
    wanted = render.cronjob(SPEC, ENV)
    assert state.cronjob_drift(None, wanted) == "the CronJob was deleted"
    live = json.loads(json.dumps(wanted))
    assert state.cronjob_drift(live, wanted) is None
    live["spec"]["schedule"] = "* * * * *"
    assert state.cronjob_drift(live, wanted) == "schedule changed to '* * * * *'"
    live = json.loads(json.dumps(wanted))
    live["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = "evil"
    assert state.cronjob_drift(live, wanted) == "image changed to evil"
    live = json.loads(json.dumps(wanted))
    live["metadata"]["annotations"][render.ANNOTATION_SPEC_HASH] = "old"
    assert state.cronjob_drift(live, wanted) == "its definition changed"


def test_job_phase_and_times() -> None:
    assert state.job_phase({"status": {}}) == ("pending", None)
    assert state.job_phase({"status": {"active": 1, "startTime": "2026-01-01T00:00:00Z"}}) == (
        "running",
        None,
    )
    done = {
        "status": {
            "startTime": "2026-01-01T00:00:00Z",
            "completionTime": "2026-01-01T00:00:05Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        }
    }
    assert state.job_phase(done) == ("succeeded", None)
    started, finished = state.job_times(done)
    assert started and finished and (finished - started).total_seconds() == 5
    failed = {
        "status": {
            "conditions": [
                {"type": "FailureTarget", "status": "True"},
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": "2026-01-01T00:01:00Z",
                },
            ]
        }
    }
    assert state.job_phase(failed) == (
        "failed",
        "BackoffLimitExceeded: Job has reached the specified backoff limit",
    )
    assert state.job_times(failed)[1] is not None


def test_pod_exit_and_last_pod() -> None:
    exited = {
        "metadata": {"name": "b", "creationTimestamp": "2026-01-01T00:00:10Z"},
        "status": {
            "containerStatuses": [{"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]
        },
    }
    waiting = {
        "metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "containerStatuses": [
                {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}
            ]
        },
    }
    assert state.pod_exit(exited) == (3, "Error")
    assert state.pod_exit(waiting) == (None, "ImagePullBackOff: no such image")
    assert state.last_pod([waiting, exited]) is exited
    assert state.last_pod([]) is None
    assert state.job_name_of({"metadata": {"labels": {"job-name": "x-1"}}}) == "x-1"
