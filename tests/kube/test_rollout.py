"""The rollout verdict, from Kubernetes objects shaped as the API server returns them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from meshploy_core.kube.rollout import Phase, evaluate
from meshploy_core.kube.spec import ANNOTATION_DEPLOYMENT

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def deployment(dep_id: str = "d1", replicas: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 2},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"annotations": {ANNOTATION_DEPLOYMENT: dep_id}}},
        },
        "status": {"observedGeneration": 2, **status},
    }


def pod(dep_id: str = "d1", waiting: str | None = None, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"containerStatuses": []}
    if waiting:
        status["containerStatuses"] = [
            {
                "name": "api",
                "image": "img",
                "restartCount": 5,
                "state": {"waiting": {"reason": waiting, "message": "details here"}},
                "lastState": {"terminated": {"exitCode": 137}},
            }
        ]
    status.update(extra)
    return {
        "metadata": {"name": "p", "annotations": {ANNOTATION_DEPLOYMENT: dep_id}},
        "status": status,
    }


def test_complete_only_when_all_updated_available_ready_and_old_gone() -> None:
    done = deployment(updatedReplicas=2, availableReplicas=2, readyReplicas=2)
    done["status"]["replicas"] = 2
    assert evaluate(done, [], "d1", NOW).phase is Phase.COMPLETE
    old_left = deployment(updatedReplicas=2, availableReplicas=2, readyReplicas=2)
    old_left["status"]["replicas"] = 3
    verdict = evaluate(old_left, [], "d1", NOW)
    assert verdict.phase is Phase.PROGRESSING
    assert "1 old replica" in verdict.message


def test_not_healthy_before_controller_observed_the_change() -> None:
    stale = deployment(updatedReplicas=2, availableReplicas=2, readyReplicas=2)
    stale["status"]["replicas"] = 2
    stale["status"]["observedGeneration"] = 1
    assert evaluate(stale, [], "d1", NOW).phase is Phase.PROGRESSING


def test_image_pull_and_crash_loop_reasons() -> None:
    d = deployment(updatedReplicas=1)
    pull = evaluate(d, [pod(waiting="ImagePullBackOff")], "d1", NOW)
    assert (pull.phase, pull.reason) == (Phase.FAILED, "image_pull")
    assert "details here" in pull.message
    crash = evaluate(d, [pod(waiting="CrashLoopBackOff")], "d1", NOW)
    assert (crash.phase, crash.reason) == (Phase.FAILED, "crash_loop")
    assert "restarted 5 times; last exit code 137" in crash.message


def test_failures_of_other_deployments_pods_are_ignored() -> None:
    d = deployment(updatedReplicas=1)
    assert (
        evaluate(d, [pod("old", waiting="CrashLoopBackOff")], "d1", NOW).phase is Phase.PROGRESSING
    )


def test_unschedulable_after_grace() -> None:
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available",
        "lastTransitionTime": None,
    }
    d = deployment(replicas=1)
    recent = dict(cond, lastTransitionTime=(NOW - timedelta(seconds=5)).isoformat())
    old = dict(cond, lastTransitionTime=(NOW - timedelta(seconds=60)).isoformat())
    assert evaluate(d, [pod(conditions=[recent])], "d1", NOW, 20).phase is Phase.PROGRESSING
    verdict = evaluate(d, [pod(conditions=[old])], "d1", NOW, 20)
    assert (verdict.phase, verdict.reason) == (Phase.FAILED, "unschedulable")
    assert "0/3 nodes" in verdict.message


def test_progress_deadline() -> None:
    d = deployment(
        conditions=[
            {
                "type": "Progressing",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "x" has timed out progressing.',
            }
        ]
    )
    verdict = evaluate(d, [], "d1", NOW)
    assert (verdict.phase, verdict.reason) == (Phase.FAILED, "progress_deadline")


def test_superseded_and_missing() -> None:
    assert evaluate(deployment("d2"), [], "d1", NOW).reason == "superseded"
    assert evaluate(None, [], "d1", NOW).phase is Phase.PROGRESSING


def test_container_config_error_fails_only_when_it_lasts() -> None:
    d = deployment(updatedReplicas=1)
    young = pod(waiting="CreateContainerConfigError")
    young["metadata"]["creationTimestamp"] = (NOW - timedelta(seconds=2)).isoformat()
    assert evaluate(d, [young], "d1", NOW, 20).phase is Phase.PROGRESSING
    old = pod(waiting="CreateContainerConfigError")
    old["metadata"]["creationTimestamp"] = (NOW - timedelta(seconds=60)).isoformat()
    verdict = evaluate(d, [old], "d1", NOW, 20)
    assert (verdict.phase, verdict.reason) == (Phase.FAILED, "container_config")


def test_an_early_registry_refusal_waits_for_the_pull_secret() -> None:
    d = deployment(updatedReplicas=1)
    refused = pod(waiting="ErrImagePull")
    status = refused["status"]["containerStatuses"][0]["state"]["waiting"]
    status["message"] = 'failed to pull "reg:5000/app:1": 401 Unauthorized'
    refused["metadata"]["creationTimestamp"] = (NOW - timedelta(seconds=2)).isoformat()
    assert evaluate(d, [refused], "d1", NOW, 20).phase is Phase.PROGRESSING
    refused["metadata"]["creationTimestamp"] = (NOW - timedelta(seconds=60)).isoformat()
    lasting = evaluate(d, [refused], "d1", NOW, 20)
    assert (lasting.phase, lasting.reason) == (Phase.FAILED, "image_pull")
    assert "401 Unauthorized" in lasting.message
    # Any other pull error of a young pod (a missing tag) still fails at once.
    missing = pod(waiting="ErrImagePull")
    missing["metadata"]["creationTimestamp"] = (NOW - timedelta(seconds=2)).isoformat()
    assert evaluate(d, [missing], "d1", NOW, 20).phase is Phase.FAILED
