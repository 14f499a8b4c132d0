"""Tollgate membership: the source of truth for readers, publications, sign-in and API keys."""
