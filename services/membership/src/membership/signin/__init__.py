"""Passwordless sign-in: emailed single-use links, rate limited per email and per client address."""
