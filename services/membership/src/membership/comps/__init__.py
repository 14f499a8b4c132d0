"""Comps: complimentary grants a publication's staff give a reader, and take back."""
