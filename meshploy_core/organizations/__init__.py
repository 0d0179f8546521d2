"""Organizations (tenants): members and their roles, invitations, and registration."""
