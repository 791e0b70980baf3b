"""Monitoring: alerts from Alertmanager and webhooks, matched to playbooks."""
