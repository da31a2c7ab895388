"""Accounts, workspaces, roles and the checks every route and websocket makes."""
