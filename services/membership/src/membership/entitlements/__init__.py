"""The entitlement API for other services: who is entitled to what, and what changed."""
