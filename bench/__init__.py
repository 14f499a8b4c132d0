"""Benchmarks: `make bench` runs them and writes their figures into the README."""
