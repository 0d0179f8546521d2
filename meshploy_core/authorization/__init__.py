"""Who may do what: the permission table, role grants, and the deny-by-default policy check
that runs before every API request."""
