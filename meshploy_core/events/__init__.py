"""The event stream: one place where what happened is recorded, then delivered to channels.

Record an event with :func:`record_event` in the same transaction as the change that caused
it; the delivery worker (:mod:`meshploy_core.events.delivery`, inside ``meshploy worker``)
sends it to every subscribed channel later, with retries, so recording never waits on a
chat service or a mail server::

    from meshploy_core.events import EventKind, record_event

    await record_event(
        session,
        EventKind.NODE_OFFLINE,
        org_id=node.org_id,
        title=f"node {node.name} is offline",
        message="no heartbeat for 40 s",
        subject=("node", node.id),
    )
    await session.commit()   # the event and its deliveries land with the change

Add a kind by adding a member to :class:`EventKind` (and its severity to ``SEVERITY``).
"""

from meshploy_core.events.kinds import EventKind
from meshploy_core.events.record import record_event

__all__ = ["EventKind", "record_event"]
