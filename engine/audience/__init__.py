"""The audience: subscribers, double opt-in, STOP/START, unsubscribe."""
