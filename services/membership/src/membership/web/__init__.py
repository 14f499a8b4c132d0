"""The web wing: every HTML page and form of membership (account, sign-in, checkout form, outbox,
the publisher's dashboard), its guards and its templates. API domains never import from here."""
