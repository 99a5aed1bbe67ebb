"""Union-find over hashable keys, for joining conversations into groups and clusters."""

from __future__ import annotations

from collections.abc import Hashable, Iterable


class UnionFind:
    def __init__(self, keys: Iterable[Hashable] = ()):
        self.parent: dict[Hashable, Hashable] = {key: key for key in keys}

    def find(self, key: Hashable) -> Hashable:
        root = self.parent.setdefault(key, key)
        while root != self.parent[root]:
            root = self.parent[root]
        while key != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: Hashable, b: Hashable) -> None:
        """Join two sets; the smaller key becomes the root, so results do not depend on order."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            self.parent[high] = low

    def groups(self) -> dict[Hashable, Hashable]:
        """key -> smallest key of its set."""
        return {key: self.find(key) for key in self.parent}
