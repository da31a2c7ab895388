"""Search of a workspace's text files: the index following edits and the drive, the
retrieval object the assistant's answerer uses, and ``GET /api/workspaces/{ws}/search``."""
