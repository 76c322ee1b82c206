"""Names as the model sees them: the alphabet, the fold of any Unicode name into it, and names as letter indices."""
