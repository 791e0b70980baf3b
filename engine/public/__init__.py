"""The public status page: what was published, for the page and its feeds."""
