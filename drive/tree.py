"""A workspace's entries in memory, for what needs the whole shape: which entries are live
(nothing above them trashed), a folder's subtree, paths for a zip."""

from __future__ import annotations

from collections import defaultdict

from .entries import ROOT, Entry


class TreeView:
    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.by_id = {entry.id: entry for entry in entries}
        self.children: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            self.children[entry.parent_id].append(entry)

    def live(self) -> list[Entry]:
        """Entries reachable from the root without passing a trashed one."""
        found: list[Entry] = []
        stack = [ROOT]
        while stack:
            for child in self.children.get(stack.pop(), []):
                if not child.trashed:
                    found.append(child)
                    stack.append(child.id)
        return found

    def trashed(self) -> list[Entry]:
        """What users put in the trash (the roots of trashed subtrees)."""
        return [entry for entry in self.entries if entry.trashed]

    def subtree(self, entry_id: str) -> list[Entry]:
        """The entry and everything below it, trashed or not, parents before children."""
        root = self.by_id.get(entry_id)
        if root is None:
            return []
        found = [root]
        seen = {root.id}
        index = 0
        while index < len(found):
            for child in self.children.get(found[index].id, []):
                if child.id not in seen:  # a damaged store must not loop forever
                    seen.add(child.id)
                    found.append(child)
            index += 1
        return found

    def live_files(self, folder_id: str) -> list[tuple[str, Entry]]:
        """Live entries below a folder with their paths relative to it, parents first."""
        found: list[tuple[str, Entry]] = []
        stack: list[tuple[str, str]] = [(folder_id, "")]
        while stack:
            parent, prefix = stack.pop()
            for child in self.children.get(parent, []):
                if child.trashed:
                    continue
                path = f"{prefix}{child.name}"
                found.append((path, child))
                if child.is_folder:
                    stack.append((child.id, path + "/"))
        return found
