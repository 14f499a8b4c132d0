"""Service API keys: how other services call membership. Shown once, stored hashed, scoped."""
