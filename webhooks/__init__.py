"""Webhooks: the dispatcher that follows the event log, signing, and the SSRF guard."""
