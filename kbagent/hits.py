"""A search hit: the value the knowledge base returns and the agent and its tools cite.

It lives apart from :mod:`kbagent.knowledgebase` so that the agent and the tools can name it
without importing the knowledge base (which builds agents: the two would import each other).
"""

from __future__ import annotations

from dataclasses import dataclass

from kbagent.plaintext import plain_text


@dataclass(frozen=True)
class Hit:
    """One search result: the best-matching chunk of a page, with where it came from."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    url: str
    text: str
    score: float
    snippet: str = ""

    @property
    def preview(self) -> str:
        """What a list of hits shows under the title: the snippet, else the chunk's start as plain text."""
        return self.snippet or " ".join(plain_text(self.text).split())[:240]
