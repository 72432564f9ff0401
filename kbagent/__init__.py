"""kbagent: ask your own notes from the terminal, with a small tool-using language model."""

from kbagent.documents import Chunk, Document
from kbagent.hits import Hit
from kbagent.knowledgebase import IndexBusy, IndexStats, KnowledgeBase, Status
from kbagent.version import __version__

__all__ = ["Chunk", "Document", "Hit", "IndexBusy", "IndexStats", "KnowledgeBase", "Status", "__version__"]
