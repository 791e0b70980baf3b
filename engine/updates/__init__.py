"""Operational updates: drafting, approval and publication through channels."""
