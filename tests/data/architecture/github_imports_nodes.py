# module: engine.github.badclient
"""The GitHub client reaching up into the node implementations and the settings."""

from engine.nodes.context import NodeError
from engine.settings import Settings

__all__ = ["NodeError", "Settings"]
