"""kbagent: ask your own notes from the terminal, with a small tool-using language model."""

from kbagent.documents import Chunk, Document
from kbagent.knowledgebase import Hit, IndexBusy, IndexStats, KnowledgeBase, Status

__version__ = "0.1.0"
__all__ = ["Chunk", "Document", "Hit", "IndexBusy", "IndexStats", "KnowledgeBase", "Status", "__version__"]
