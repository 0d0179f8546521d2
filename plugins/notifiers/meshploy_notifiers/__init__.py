"""Built-in notifiers. Today: the signed webhook."""
