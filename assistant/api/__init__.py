"""The REST API (ask, conversations, search) and the OpenAI-compatible endpoint."""
