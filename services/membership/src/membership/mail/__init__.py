"""Outgoing mail: SMTP when configured, otherwise a local outbox developers and tests read."""
