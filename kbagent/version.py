"""The package's version, in a module of its own so that connectors can read it without the package's exports."""

__version__ = "0.1.0"
