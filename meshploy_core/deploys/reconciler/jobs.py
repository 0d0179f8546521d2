"""Jobs: every job's CronJob applied and kept as rendered, manual runs started, every run
followed from Kubernetes to its end, and its output kept after the pod is gone.

One pass:

* **apply**: each job's CronJob (with its env and pull Secrets, and the project's
  namespace objects) is applied when missing or when it differs from what is rendered now
  (someone edited or deleted it, the job or a variable group changed);
* **trigger**: a ``pending`` manual run becomes a Job made from the live CronJob;
* **observe**: Jobs labelled with a job id become runs (scheduled ones are recorded on
  sight); a run's status, start and end, exit code and reason follow the Job and its last
  pod; when it ends, the last pod's output is stored (sealed) and a failure is an event;
* **collect**: CronJobs (and their Secrets) of deleted jobs go; kept output older than the
  retention period is dropped.

Like the rest of the reconciler it keeps nothing that matters in memory: a run is judged
from what Kubernetes reports whenever it is looked at.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meshploy_core.db.base import utcnow
from meshploy_core.events import EventKind, record_event
from meshploy_core.jobs import catalog
from meshploy_core.jobs.models import Job, JobRun
from meshploy_core.kube import jobs as render
from meshploy_core.kube import manifests, state
from meshploy_core.kube.adapter import KubeAdapter, KubeError
from meshploy_core.kube.logs import parse_line
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.projects.projects import namespace_of
from meshploy_core.registries.logins import PullLogins, RegistryLookupError

log = logging.getLogger(__name__)
SELECTOR = render.LABEL_JOB_ID
#: At most this much of a run's output is kept (its end: where failures are).
MAX_LOG_BYTES = 1024 * 1024
#: A run whose Job vanished before it ended is failed after this long without it.
VANISHED_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class _Row:
    job: Job
    project: Project
    org: Organization


@dataclass
class JobSync:
    """Keeps CronJobs applied and runs recorded."""

    sessions: async_sessionmaker[AsyncSession]
    kube: KubeAdapter
    logins: PullLogins
    log_retention: timedelta = timedelta(days=7)
    #: Seconds between full drift checks when nothing changed.
    interval: float = 5.0
    _last_full: float = 0.0
    _seen: dict[uuid.UUID, datetime] = field(default_factory=dict)

    async def sync(self) -> None:
        """One pass: apply, trigger, observe, collect."""
        async with self.sessions() as session:
            rows = [
                _Row(*r)
                for r in (
                    await session.execute(
                        select(Job, Project, Organization)
                        .join(Project, Project.id == Job.project_id)
                        .join(Organization, Organization.id == Project.org_id)
                        .order_by(Job.created_at)
                    )
                ).all()
            ]
            pending = list(
                await session.scalars(
                    select(JobRun).where(JobRun.status == "pending", JobRun.kube_name.is_(None))
                )
            )
        now = time.monotonic()
        full = now - self._last_full >= self.interval
        if full:
            self._last_full = now
        by_id = {r.job.id: r for r in rows}
        waiting = {run.job_id for run in pending}
        for row in rows:
            changed = self._seen.get(row.job.id) != row.job.updated_at
            if full or changed or row.job.id in waiting:
                await self._apply(row)
        for run in pending:
            owner = by_id.get(run.job_id)
            if owner is not None:
                await self._start(owner, run)
        await self._observe(by_id)
        if full:
            await self._collect(set(by_id))

    # -- apply --------------------------------------------------------------------------

    async def _apply(self, row: _Row) -> bool:
        """Apply the job's objects if the live CronJob differs; True when it is in place."""
        async with self.sessions() as session:
            want = await catalog.desired(session, row.job, row.project, row.org)
        if want.spec is None:
            log.warning("job %s/%s: %s", row.project.slug, row.job.name, want.problem)
            return False
        spec = want.spec
        try:
            creds = await self.logins.for_image(row.org.id, spec.image)
        except RegistryLookupError as exc:
            log.warning("job %s: %s", row.job.name, exc)
            return False
        if creds is not None:
            spec = replace(spec, image_pull_secret=render.pull_secret_name(spec.job))
        wanted = render.cronjob(spec, want.env)
        live = await self.kube.get("batch/v1", "CronJob", spec.job, spec.namespace)
        problem = state.cronjob_drift(live, wanted)
        if problem is None:
            self._seen[row.job.id] = row.job.updated_at
            return True
        if live is not None:
            log.info("job %s/%s: %s; re-applying", row.project.slug, spec.job, problem)
        objects = [
            *manifests.project_manifests(
                row.org.slug, row.project.slug, spec.namespace, str(row.project.id)
            ),
            *(
                [render.pull_secret(spec, creds.server, creds.username, creds.password)]
                if creds is not None
                else []
            ),
            *render.job_manifests(spec, want.env),
        ]
        try:
            for manifest in objects:
                await self.kube.apply(manifest)
        except KubeError as exc:
            log.warning("applying job %s/%s failed: %s", row.project.slug, spec.job, exc)
            return False
        self._seen[row.job.id] = row.job.updated_at
        return True

    # -- trigger ------------------------------------------------------------------------

    async def _start(self, row: _Row, run: JobRun) -> None:
        ns = namespace_of(row.project)
        live = await self.kube.get("batch/v1", "CronJob", row.job.name, ns)
        if live is None:
            return  # not applied yet (e.g. its image service is gone); stays pending
        manifest = render.manual_job(live, str(run.id))
        try:
            await self.kube.apply(manifest)
        except KubeError as exc:
            async with self.sessions() as session:
                await self._end(session, row, run.id, "failed", f"Kubernetes refused it: {exc}")
                await session.commit()
            return
        async with self.sessions() as session:
            await session.execute(
                update(JobRun)
                .where(JobRun.id == run.id, JobRun.kube_name.is_(None))
                .values(kube_name=state.name_of(manifest))
            )
            await session.commit()

    # -- observe ------------------------------------------------------------------------

    async def _observe(self, by_id: dict[uuid.UUID, _Row]) -> None:
        if not by_id:
            return
        kube_jobs = await self.kube.list("batch/v1", "Job", label_selector=SELECTOR)
        pods = await self.kube.list("v1", "Pod", label_selector=SELECTOR)
        pods_of: dict[tuple[str, str], list[state.Obj]] = {}
        for pod in pods:
            key = (str(state.meta(pod).get("namespace")), state.job_name_of(pod) or "")
            pods_of.setdefault(key, []).append(pod)
        seen: set[tuple[uuid.UUID, str]] = set()
        for kjob in kube_jobs:
            try:
                job_id = uuid.UUID(state.labels_of(kjob).get(SELECTOR, ""))
            except ValueError:
                continue
            row = by_id.get(job_id)
            if row is None:
                continue
            name = state.name_of(kjob)
            seen.add((job_id, name))
            key = (str(state.meta(kjob).get("namespace")), name)
            await self._follow(row, kjob, pods_of.get(key, []))
        await self._vanished(seen)

    async def _follow(self, row: _Row, kjob: state.Obj, pods: list[state.Obj]) -> None:
        name = state.name_of(kjob)
        run_label = state.labels_of(kjob).get(render.LABEL_RUN_ID)
        async with self.sessions() as session:
            run = await session.scalar(
                select(JobRun).where(JobRun.job_id == row.job.id, JobRun.kube_name == name)
            )
            if run is None and run_label:
                try:
                    run = await session.get(JobRun, uuid.UUID(run_label))
                except ValueError:
                    run = None
            if run is None:
                run = JobRun(
                    id=uuid.uuid4(),
                    job_id=row.job.id,
                    kube_name=name,
                    trigger="schedule",
                    status="pending",
                    created_at=state.parse_time(state.meta(kjob).get("creationTimestamp"))
                    or utcnow(),
                )
                session.add(run)
                await session.flush()
            if run.status in ("succeeded", "failed"):
                await session.commit()
                return
            run.kube_name = name
            status, reason = state.job_phase(kjob)
            started, finished = state.job_times(kjob)
            last = state.last_pod(pods)
            code, pod_reason = state.pod_exit(last) if last is not None else (None, None)
            run.started_at = run.started_at or started
            if status in ("pending", "running"):
                run.status = status
                await session.commit()
                return
            if status == "failed":
                detail = f" (last attempt: {pod_reason})" if pod_reason else ""
                reason = f"{reason}{detail}"
                if code is not None:
                    reason += f"; exit code {code}"
            output, note = await self._output(row, last)
            await self._end(
                session, row, run.id, status, reason, code, finished, output, note, run.trigger
            )
            await session.commit()

    async def _output(self, row: _Row, pod: state.Obj | None) -> tuple[str | None, str | None]:
        if pod is None:
            return None, "no pod ran, so there is no output"
        try:
            raw = await self.kube.pod_log(
                namespace_of(row.project), state.name_of(pod), limit_bytes=MAX_LOG_BYTES
            )
        except KubeError as exc:
            return None, f"the output could not be read before the pod went: {exc}"
        lines = []
        for text in raw.splitlines():
            line = parse_line(state.name_of(pod), text)
            if line is not None:
                lines.append(f"{line.time[:23]}Z {line.message}" if line.time else line.message)
        return "\n".join(lines) + ("\n" if lines else ""), None

    async def _end(
        self,
        session: AsyncSession,
        row: _Row,
        run_id: uuid.UUID,
        status: str,
        reason: str | None,
        code: int | None = None,
        finished: datetime | None = None,
        output: str | None = None,
        note: str | None = None,
        trigger: str = "manual",
    ) -> None:
        finished = finished or utcnow()
        done = await session.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.status.in_(("pending", "running")))
            .values(
                status=status,
                reason=reason,
                exit_code=code,
                finished_at=finished,
                log=output,
                log_note=note,
                log_expires_at=finished + self.log_retention,
            )
            .returning(JobRun.id)
        )
        if done.first() is None or status != "failed":
            return
        where = f"{row.project.slug}/{row.job.name}"
        await record_event(
            session,
            EventKind.JOB_RUN_FAILED,
            org_id=row.org.id,
            project_id=row.project.id,
            title=f"job {row.job.name} failed",
            message=f"{trigger} run {run_id} of {where}: {reason}",
            subject=("job_run", run_id),
            details={
                "project": row.project.slug,
                "job": row.job.name,
                "run_id": str(run_id),
                "exit_code": code,
            },
        )

    async def _vanished(self, seen: set[tuple[uuid.UUID, str]]) -> None:
        """Unfinished runs whose Job is gone (deleted by hand, TTL) end as failed."""
        cutoff = datetime.now(UTC) - VANISHED_GRACE
        async with self.sessions() as session:
            open_runs = (
                await session.execute(
                    select(JobRun, Job, Project, Organization)
                    .join(Job, Job.id == JobRun.job_id)
                    .join(Project, Project.id == Job.project_id)
                    .join(Organization, Organization.id == Project.org_id)
                    .where(
                        JobRun.status.in_(("pending", "running")),
                        JobRun.kube_name.is_not(None),
                        JobRun.created_at < cutoff,
                    )
                )
            ).all()
            for run, job, project, org in open_runs:
                if (job.id, run.kube_name) in seen:
                    continue
                await self._end(
                    session,
                    _Row(job, project, org),
                    run.id,
                    "failed",
                    "its Kubernetes Job was deleted before it finished",
                    trigger=run.trigger,
                    note="the pod was gone before its output could be read",
                )
            await session.commit()

    # -- collect ------------------------------------------------------------------------

    async def _collect(self, live: set[uuid.UUID]) -> None:
        for kind, api in (("CronJob", "batch/v1"), ("Secret", "v1")):
            for obj in await self.kube.list(api, kind, label_selector=SELECTOR):
                try:
                    job_id = uuid.UUID(state.labels_of(obj).get(SELECTOR, ""))
                except ValueError:
                    continue
                if job_id in live or state.is_terminating(obj):
                    continue
                namespace = str(state.meta(obj).get("namespace"))
                await self.kube.delete(api, kind, state.name_of(obj), namespace)
                log.info("deleted %s %s/%s of a deleted job", kind, namespace, state.name_of(obj))
        for job_id in set(self._seen) - live:
            self._seen.pop(job_id, None)
        async with self.sessions() as session:
            await session.execute(
                update(JobRun)
                .where(JobRun.log_expires_at < utcnow(), JobRun.log.is_not(None))
                .values(log=None, log_note="the output was deleted after the retention period")
            )
            await session.commit()
