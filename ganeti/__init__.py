"""A cluster virtualisation manager compatible with Ganeti, built on Twisted."""

__version__ = "0.1.0"
