"""The Stripe webhook inbox: every event stored once by its id, then processed with retries."""
