"""Asset checks, partitioned like their assets: schema, CRC, determinism, uniqueness."""
