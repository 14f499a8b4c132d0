"""Reader sessions: an opaque refresh token in an HttpOnly cookie, rotated on every refresh."""
