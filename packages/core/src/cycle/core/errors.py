"""Errors a user fixes by changing the command line or the environment, not the code."""

from __future__ import annotations


class ConfigError(ValueError):
    """A user-fixable problem with a composed config; its message is one line naming the fix."""
