"""Files in and out: CSV read with the csv module's meaning (csv/), Parquet (parquet/), atomic writes and the
signals that unwind them, the file formats, the name-column rule and whole tables read as text."""
