"""Password hashing and secret tokens."""
