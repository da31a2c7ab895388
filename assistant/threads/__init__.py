"""Conversation threads with the assistant: shared by a workspace's members, attached to a
document or to the workspace, answered live (issue 24)."""
