"""The reconciler's timings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReconcilerConfig:
    """Timings. Defaults suit production; tests shorten the grace periods."""

    #: How long a pod may stay unschedulable (or a fresh pod be refused by its registry)
    #: before the deployment fails.
    unschedulable_grace: float = 20.0
    #: How often the cluster is compared with what should run.
    drift_interval: float = 5.0
    #: Extra time after the Deployment's own progress deadline before we give up ourselves.
    deadline_margin: float = 60.0
