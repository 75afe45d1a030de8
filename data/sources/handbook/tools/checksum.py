"""Print the sha256 and CRC-32 of files, as the lake records them."""

import hashlib
import sys
import zlib


def digest(path: str) -> tuple[str, int]:
    """Return (sha256 hex, unsigned crc32) of the file at ``path``."""
    with open(path, "rb") as handle:
        data = handle.read()
    return hashlib.sha256(data).hexdigest(), zlib.crc32(data) & 0xFFFFFFFF


class Report:
    """Collects digests and prints them one per line."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int]] = []

    def add(self, path: str) -> None:
        sha, crc = digest(path)
        self.rows.append((path, sha, crc))

    def render(self) -> str:
        return "\n".join(f"{sha}  {crc:08x}  {path}" for path, sha, crc in self.rows)


def main(argv: list[str]) -> int:
    report = Report()
    for path in argv:
        report.add(path)
    print(report.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
