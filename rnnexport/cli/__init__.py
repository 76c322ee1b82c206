"""The ``rnnexport`` command line: each command parses its options, calls one library function and formats the
result; typed library errors become one ``Error:`` line and an exit status (exits.py)."""
