"""Grants: the entitlements. A reader's entitlements are the union of their live grants."""
