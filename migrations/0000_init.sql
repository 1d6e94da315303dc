-- pgvector backs knowledge-base search; every later migration may rely on the `vector` type.
CREATE EXTENSION IF NOT EXISTS vector;
