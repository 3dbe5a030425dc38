"""The webhook server: the ASGI gateway and FastAPI app, the ingest pipeline, group commit,
the worker pool, the installation flow and integrations API, auth, crypto, rate limits,
metrics and logs. It sits on top: it may import any room below it, never the CLI.
"""
