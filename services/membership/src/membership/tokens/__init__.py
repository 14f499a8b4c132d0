"""Membership tokens: signing keys (encrypted at rest, rotated), access tokens, the JWKS."""
