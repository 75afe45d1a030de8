"""ResponderResource: which responder replays use, configured from the environment.

EVIDENCE_LAKE_RESPONDER = extractive (default) | openai_compatible, with
EVIDENCE_LAKE_RESPONDER_URL, EVIDENCE_LAKE_RESPONDER_MODEL and EVIDENCE_LAKE_RESPONDER_API_KEY.
The key is read only when the responder is built, so it never sits in resource config
(which the Dagster UI shows) and never reaches metadata or logs.
"""

import os

import dagster as dg

from core.responders import RESPONDER_URL_ENV, ExtractiveResponder, OpenAICompatibleResponder, responder_setting


class ResponderResource(dg.ConfigurableResource):
    kind: str | None = None  # overrides EVIDENCE_LAKE_RESPONDER
    timeout_s: float = 20.0
    retries: int = 2

    def build(self):
        try:
            kind = responder_setting(self.kind)
        except ValueError as exc:
            raise dg.Failure(str(exc)) from exc
        if kind == "openai_compatible":
            return OpenAICompatibleResponder(os.environ[RESPONDER_URL_ENV],
                                             os.environ.get("EVIDENCE_LAKE_RESPONDER_MODEL", "default"),
                                             os.environ.get("EVIDENCE_LAKE_RESPONDER_API_KEY", ""),
                                             timeout_s=self.timeout_s, retries=self.retries)
        return ExtractiveResponder()
