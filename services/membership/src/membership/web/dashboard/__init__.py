"""The publication staff's dashboard: pages under `/account/publications` on the public origin."""
