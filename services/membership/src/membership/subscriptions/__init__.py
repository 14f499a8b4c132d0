"""Stripe customers and subscriptions, mirrored locally; Stripe is the truth, we converge on it."""
