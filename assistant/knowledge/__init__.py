"""Workspace knowledge: the full-text index of a workspace's text files, split into
line-ranged passages, that answers both the assistant's retrieval and people's search."""
