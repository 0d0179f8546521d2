"""Every table in one metadata: imports each capability's models module.

Alembic (autogenerate and the drift test), key rotation and the app import this module so
that :data:`Base.metadata` is complete; code that uses a table imports it from its
capability (``from meshploy_core.projects.models import Project``), not from here.
"""

from __future__ import annotations

from meshploy_core.accounts import models as accounts
from meshploy_core.audit import models as audit
from meshploy_core.db.base import Base
from meshploy_core.deploys import models as deploys
from meshploy_core.domains import models as domains
from meshploy_core.events import models as events
from meshploy_core.jobs import models as jobs
from meshploy_core.metrics import models as metrics
from meshploy_core.nodes import models as nodes
from meshploy_core.notifications import models as notifications
from meshploy_core.organizations import models as organizations
from meshploy_core.projects import models as projects
from meshploy_core.registries import models as registries
from meshploy_core.routing import models as routing
from meshploy_core.services import models as services
from meshploy_core.variables import models as variables

#: The modules that define tables, one per capability.
MODEL_MODULES = (
    accounts,
    audit,
    deploys,
    domains,
    events,
    jobs,
    metrics,
    nodes,
    notifications,
    organizations,
    projects,
    registries,
    routing,
    services,
    variables,
)

__all__ = ["MODEL_MODULES", "Base"]
