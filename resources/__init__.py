"""Dagster resources: the lake (tables and objects) and the source registry."""

from resources.lake import LakeResource
from resources.sources import SourcesResource

__all__ = ["LakeResource", "SourcesResource"]
