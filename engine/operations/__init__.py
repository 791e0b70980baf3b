"""Operations: what the engine says about itself, for monitoring it (gauges, readiness)."""
