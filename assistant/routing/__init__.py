"""Where a message goes: the default intent router, a tenant's own intents and their training."""
