"""The drive's HTTP routes and its wiring to access control and the sync rooms: the only
place that connects the ``drive`` package to the rest of the server."""
