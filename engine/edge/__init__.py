"""The HTTP edge: the plain-ASGI gateway (the one webhook route), the FastAPI app with its
routes, signature checks, ingest and group commit, the installation callback and OAuth, the
integrations API, auth, crypto, per-client throttles and the browser's delivery log. It may
import every room but the CLI.
"""
