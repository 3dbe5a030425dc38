# module: engine.match.badfilter
"""A filter that calls the network from inside the pure matcher."""

import httpx

from . import events

CLIENT = httpx.Client
EVENTS = events
