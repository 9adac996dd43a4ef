"""Benchmarks: `make bench` runs every module here. Each prints figures as ratios against a baseline
measured in the same run on the same machine (these machines are noisy; absolute numbers mean little)."""
