"""Yjs document sync: the y-websocket protocol, rooms, and durable update logs."""
