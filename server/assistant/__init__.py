"""Wiring and HTTP routes of the assistant: the only place that connects ``assistant`` to
access control, the directory and the backends."""
