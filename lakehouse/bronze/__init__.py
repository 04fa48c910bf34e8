"""Bronze: every record that arrived, exactly once, shaped like its source, with its raw payload."""
