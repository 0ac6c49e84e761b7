"""The tenant's usage: the ledger's figures (one selector for the page and the command) and charts."""
