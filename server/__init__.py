"""The loneguard hub: ingest, store, escalation, API and console."""
