"""The organisation's configuration: playbooks, channels, places, templates."""
