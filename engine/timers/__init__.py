"""Durable timers: what is due, claimed once, fired by the alarm clock."""
