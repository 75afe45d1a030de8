"""Count words per markdown heading: a tiny model of what the section extractor does."""

from collections import Counter


def sections(text: str) -> dict[str, int]:
    """Map each ATX heading to the number of words under it."""
    counts: Counter[str] = Counter()
    current = "(preamble)"
    for line in text.splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip()
            continue
        counts[current] += len(line.split())
    return dict(counts)


async def sections_async(text: str) -> dict[str, int]:
    """The same, for callers that are already async."""
    return sections(text)
