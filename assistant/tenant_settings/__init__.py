"""A tenant's own settings pages: its answering policy, its LLM connection and its intents."""
