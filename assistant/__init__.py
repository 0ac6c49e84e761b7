"""Assistant: question -> route -> scope -> retrieve -> decide -> compose -> LLM -> verify -> answer.

Chat views, the REST API for asking, LLM providers and prompts (kept as files).
"""
