"""Benchmarks of Kassa on its production stack (PostgreSQL + Redis + real worker processes).

`python -m bench` (or `make bench`) runs every benchmark; `python -m bench payments --help` shows one's
options. Not part of the installed package: run from the repository root. See bench/README.md.
"""
