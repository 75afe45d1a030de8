"""ResponderResource: which responder replays use, configured from the environment.

EVIDENCE_LAKE_RESPONDER = extractive (default) | openai_compatible, with
EVIDENCE_LAKE_RESPONDER_URL, EVIDENCE_LAKE_RESPONDER_MODEL and EVIDENCE_LAKE_RESPONDER_API_KEY.
The key is read only when the responder is built, so it never sits in resource config
(which the Dagster UI shows) and never reaches metadata or logs.
"""

import os

import dagster as dg

from core.responders import ExtractiveResponder, OpenAICompatibleResponder


class ResponderResource(dg.ConfigurableResource):
    kind: str | None = None  # overrides EVIDENCE_LAKE_RESPONDER
    timeout_s: float = 20.0
    retries: int = 2

    def build(self):
        kind = self.kind or os.environ.get("EVIDENCE_LAKE_RESPONDER", "extractive")
        if kind == "extractive":
            return ExtractiveResponder()
        if kind == "openai_compatible":
            url = os.environ.get("EVIDENCE_LAKE_RESPONDER_URL")
            if not url:
                raise dg.Failure("EVIDENCE_LAKE_RESPONDER=openai_compatible needs EVIDENCE_LAKE_RESPONDER_URL "
                                 "(e.g. http://127.0.0.1:8000/v1) and EVIDENCE_LAKE_RESPONDER_MODEL")
            return OpenAICompatibleResponder(url, os.environ.get("EVIDENCE_LAKE_RESPONDER_MODEL", "default"),
                                             os.environ.get("EVIDENCE_LAKE_RESPONDER_API_KEY", ""),
                                             timeout_s=self.timeout_s, retries=self.retries)
        raise dg.Failure(f"unknown responder {kind!r}: use extractive or openai_compatible")
