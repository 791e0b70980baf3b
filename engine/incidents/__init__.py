"""Incidents: declaration, the lifecycle (the playbook's state machine), the timeline."""
