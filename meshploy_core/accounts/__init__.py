"""User accounts: passwords, login sessions and API tokens, two-factor authentication, login
rate limits, and resolving who a request comes from."""
