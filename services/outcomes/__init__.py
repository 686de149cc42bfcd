"""Outcomes: six-month follow-ups, recorded outcomes, and the key figures of the network."""
