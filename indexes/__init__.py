"""Indexes: the Chroma vector index, the SQLite lexical index, hybrid fusion and embedders."""
