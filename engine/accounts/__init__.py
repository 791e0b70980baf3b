"""Accounts: users, sessions, API tokens and login throttling."""
