# first, as in cli.py: a harness that loaded polars before it exported polars' own allocator defaults to every
# process it started, and the runs it measured kept freed memory (core/allocator.py)
import core.allocator  # noqa: F401
