"""SourcesResource: the registry in sources.toml, read fresh on every use."""

import dagster as dg

from core.project import sources_path
from core.sources import SourceConfig, SourceConfigError, load_sources


class SourcesResource(dg.ConfigurableResource):
    """``file`` if set, else ``$EVIDENCE_LAKE_SOURCES``, else ``<project>/sources.toml``."""

    file: str | None = None

    def load(self) -> dict[str, SourceConfig]:
        return load_sources(self.file or sources_path())

    def get(self, name: str) -> SourceConfig:
        try:
            sources = self.load()
        except SourceConfigError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        if name not in sources:
            raise dg.Failure(
                description=f"source '{name}' is a partition but not in {self.file or sources_path()}; "
                f"declared: {sorted(sources)}. Add it back, or delete the partition in the UI.",
                allow_retries=False,
            )
        return sources[name]
