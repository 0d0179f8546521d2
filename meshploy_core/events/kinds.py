"""The kinds of event the platform records. Others add theirs here (one line each)."""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    """What happened. The value is what channels subscribe to and what notifiers receive."""

    DEPLOYMENT_STARTED = "deployment.started"
    DEPLOYMENT_HEALTHY = "deployment.healthy"
    DEPLOYMENT_FAILED = "deployment.failed"
    DEPLOYMENT_ROLLED_BACK = "deployment.rolled_back"
    BUILD_FAILED = "build.failed"
    JOB_RUN_FAILED = "job_run.failed"
    NODE_OFFLINE = "node.offline"
    NODE_ONLINE = "node.online"
    CERTIFICATE_RENEWAL_FAILED = "certificate.renewal_failed"
    BACKUP_FAILED = "backup.failed"
    #: Sent by "test-send" to one channel only.
    CHANNEL_TEST = "channel.test"


#: Default severity of each kind (a caller may say otherwise).
SEVERITY: dict[EventKind, str] = {
    EventKind.DEPLOYMENT_STARTED: "info",
    EventKind.DEPLOYMENT_HEALTHY: "info",
    EventKind.DEPLOYMENT_FAILED: "error",
    EventKind.DEPLOYMENT_ROLLED_BACK: "warning",
    EventKind.BUILD_FAILED: "error",
    EventKind.JOB_RUN_FAILED: "error",
    EventKind.NODE_OFFLINE: "error",
    EventKind.NODE_ONLINE: "info",
    EventKind.CERTIFICATE_RENEWAL_FAILED: "error",
    EventKind.BACKUP_FAILED: "error",
    EventKind.CHANNEL_TEST: "info",
}
SEVERITIES = ("info", "warning", "error")
