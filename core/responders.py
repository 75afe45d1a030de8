"""Responders: turn (query, bundle) into an answer that cites bundle items.

``extractive`` (default) is deterministic: it picks the bundle sentences with the most query
terms and cites where they came from. ``openai_compatible`` calls a chat-completions endpoint
(base URL, model and key from the environment) with a timeout and retries with backoff; any
failure is a ResponderError, recorded by the replay as ``infra_error``. The API key is held
privately and never appears in a message, repr or log line.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from core.tokenize import tokenize

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CITE = re.compile(r"\[(E\d+)\]")


RESPONDER_ENV = "EVIDENCE_LAKE_RESPONDER"
RESPONDER_URL_ENV = "EVIDENCE_LAKE_RESPONDER_URL"


def responder_setting(kind: str | None = None) -> str:
    """The responder replays use: ``kind``, else ``EVIDENCE_LAKE_RESPONDER`` (default extractive); an
    ``openai_compatible`` one needs ``EVIDENCE_LAKE_RESPONDER_URL``. A ValueError says what to set."""
    kind = kind or os.environ.get(RESPONDER_ENV, "").strip() or "extractive"
    if kind not in ("extractive", "openai_compatible"):
        raise ValueError(f"{RESPONDER_ENV}={kind!r} is not a responder: use extractive or openai_compatible")
    if kind == "openai_compatible" and not os.environ.get(RESPONDER_URL_ENV, "").strip():
        raise ValueError(f"{RESPONDER_ENV}={kind!r} needs {RESPONDER_URL_ENV} "
                         "(e.g. http://127.0.0.1:8000/v1) and EVIDENCE_LAKE_RESPONDER_MODEL")
    return kind


class ResponderError(RuntimeError):
    """The responder could not answer (timeout, HTTP error, malformed reply)."""


@dataclass(frozen=True)
class Response:
    answer: str
    cited_refs: list[str]  # bundle refs such as "E1"


class ExtractiveResponder:
    name = "extractive"

    def __init__(self, sentences: int = 2) -> None:
        self.sentences = sentences

    def respond(self, query: str, bundle: list[dict]) -> Response:
        wanted = set(tokenize(query))
        scored = []
        for order, item in enumerate(bundle):
            for n, sentence in enumerate(s.strip() for s in _SENTENCE.split(item["text"]) if s.strip()):
                overlap = len(wanted & set(tokenize(sentence)))
                if overlap:
                    scored.append((-overlap, order, n, sentence, item["ref"]))
        best = sorted(scored)[: self.sentences]
        best.sort(key=lambda t: (t[1], t[2]))
        answer = " ".join(f"{sentence} [{ref}]" for _, _, _, sentence, ref in best)
        return Response(answer, sorted({ref for *_, ref in best}, key=lambda r: int(r[1:])))


@dataclass
class OpenAICompatibleResponder:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout_s: float = 20.0
    retries: int = 2
    backoff_s: float = 0.5
    name: str = "openai_compatible"

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatibleResponder(base_url={self.base_url!r}, model={self.model!r})"

    def respond(self, query: str, bundle: list[dict]) -> Response:
        context = "\n".join(f"[{item['ref']}] {item['text']}" for item in bundle)
        body = json.dumps({
            "model": self.model, "temperature": 0,
            "messages": [
                {"role": "system", "content": "Answer only from the context. Cite each claim as [E<n>]."},
                {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {query}"},
            ],
        }).encode()
        url = self.base_url.rstrip("/") + "/chat/completions"
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                    payload = json.loads(reply.read().decode("utf-8"))
                answer = payload["choices"][0]["message"]["content"]
                if not isinstance(answer, str):
                    raise TypeError("content is not text")
                refs = sorted(set(_CITE.findall(answer)), key=lambda r: int(r[1:]))
                return Response(answer, refs)
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} from {self.base_url}"
                if exc.code < 500 and exc.code != 429:
                    break  # a client error will not get better by retrying
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = f"{type(exc).__name__} talking to {self.base_url}: {getattr(exc, 'reason', exc)}"
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                last = f"malformed reply from {self.base_url}: {type(exc).__name__}"
        raise ResponderError(last)
