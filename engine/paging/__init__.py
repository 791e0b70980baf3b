"""Paging: escalation ladders, the roster (rotations, overrides, quiet hours), cadence."""
