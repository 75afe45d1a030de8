"""What tables the lake holds: found by their ``_delta_log`` under ``<root>/<layer>/<name>``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from deltalake import DeltaTable


@dataclass(frozen=True)
class TableInfo:
    layer: str
    name: str
    uri: str
    version: int
    rows: int
    files: int

    @property
    def view_name(self) -> str:
        return f"{self.layer}_{self.name}"


def find_tables(root: str, storage_options: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(layer, name, uri) of every Delta table two levels under ``root``, sorted.

    A local root is listed (any table counts); an object-store root has no cheap listing of
    folders, so each contract's table is probed instead.
    """
    if "://" in root and not root.startswith("file://"):
        from core.contracts import CONTRACTS

        probes = [(c.layer, c.name, f"{root.rstrip('/')}/{c.layer}/{c.name}") for c in CONTRACTS.values()]
        return sorted(p for p in probes if DeltaTable.is_deltatable(p[2], storage_options=storage_options))
    found = []
    root = root.removeprefix("file://")
    if not os.path.isdir(root):
        return found
    for layer in sorted(os.listdir(root)):
        layer_dir = os.path.join(root, layer)
        if not os.path.isdir(layer_dir) or layer == "objects":
            continue
        for name in sorted(os.listdir(layer_dir)):
            uri = os.path.join(layer_dir, name)
            if os.path.isdir(os.path.join(uri, "_delta_log")):
                found.append((layer, name, uri))
    return found


def describe_tables(root: str, storage_options: dict[str, str] | None = None,
                    unreadable: list[str] | None = None) -> list[TableInfo]:
    """Version, rows and files of each readable table; ``unreadable`` collects why the others are not."""
    from core.lake import LakeReadError, open_delta

    out = []
    for layer, name, uri in find_tables(root, storage_options):
        try:
            table = open_delta(uri, storage_options, name=f"{layer}/{name}")
        except LakeReadError as exc:
            if unreadable is not None:
                unreadable.append(str(exc))
            continue
        actions = table.get_add_actions(flatten=True)
        rows = sum(v for v in actions.column("num_records").to_pylist() if v is not None)
        out.append(TableInfo(layer, name, uri, table.version(), rows, actions.num_rows))
    return out
