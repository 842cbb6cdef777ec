"""The package version, on the bottom floor: importing it imports nothing else of elpagen."""

__version__ = "0.1.0"
