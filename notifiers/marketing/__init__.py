"""Connectors to marketing platforms: each adapter implements engine.kernel.ports.MarketingPlatform
with the platform's official client; ``ConnectorNotifier`` runs the outbox's connector jobs."""
