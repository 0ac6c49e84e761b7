"""The LLM: the operator's connections, a tenant's policy, the client and the embedded model."""
