"""Authentication (who is calling), authorization (may they) and login rate limiting."""
