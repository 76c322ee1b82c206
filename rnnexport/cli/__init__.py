"""The ``rnnexport`` command line: each command parses its options, calls one library function and formats the
result; a typed library error becomes one ``Error:`` line and an exit status (console.py)."""
