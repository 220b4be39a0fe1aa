"""Samizdat: channels that keep talking when the network is blocked or switched off."""

__version__ = "0.1.0"
