"""GitHub's REST API: the seam nodes see (`api`), the App's credentials (`app`), the httpx
client with tokens, pagination and rate limits (`client`), and the changed-files fetch.

It may import `match` (the Event model) and `engine.errors`; never `nodes`, `settings`,
the store or the server, so the client can be reused and tested on its own.
"""
