"""The labelled data set: fetching the names folder, reading labelled names from a folder or a table, the split."""
