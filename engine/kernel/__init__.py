"""The shared kernel: errors, ports, records, the timeline's hash chain, roles, limits."""
