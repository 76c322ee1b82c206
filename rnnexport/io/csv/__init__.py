"""CSV in and out: ``reader`` streams records as bytes, ``writer`` splices prediction columns into them."""
