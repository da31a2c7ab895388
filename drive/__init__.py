"""A workspace's drive: a tree of folders and files, text files as collaborative documents,
other files as bytes in object storage. Imports nothing of Tandem's: the server wires it to
access control and to the sync rooms through the small ports in ``ports.py``."""
