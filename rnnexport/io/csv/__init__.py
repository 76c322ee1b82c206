"""CSV records with exactly the meaning of Python's csv module, streamed as UTF-8 byte chunks: the exact reader
and the numpy fast path held to it, chunks and their fields, the dialect (delimiter, encoding), the opened file."""
