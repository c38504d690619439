"""Benchmarks: Stackyard against a bare Starlette floor and Hayhooks, side by side in one run.

Run everything with `python -m bench` (or `scripts/bench`); `--parts` picks parts, `--smoke` uses tiny sizes.
Results land in `docs/benchmarks.md` and `docs/bench/*.png`.
"""
