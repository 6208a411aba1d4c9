"""Household features as of a day: only data strictly before the as-of instant."""
