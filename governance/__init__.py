"""Governance: tenants, memberships and roles, access groups, API keys, audit log.

``governance.access`` is the only module that answers "what may this principal see".
"""
