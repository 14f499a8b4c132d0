"""Importing members from Ghost, Substack or a plain CSV, and adopting their Stripe subscriptions."""
