"""Tiers and prices: what a reader can buy, mirrored to Stripe Products and Prices."""
