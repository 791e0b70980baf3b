"""crisiscomms engine: the core that knows playbooks, incidents and the timeline.

It imports no web framework and no provider SDK; adapters are wired in by the composition
root in ``web``.
"""
