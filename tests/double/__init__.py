"""The GitHub API test double shared by every test (see server.py)."""

from tests.double.server import APP_ID, Fault, GitHubDouble

__all__ = ["APP_ID", "Fault", "GitHubDouble"]
