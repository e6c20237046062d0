"""Small flows for tests that run flowlib in another process (the CLI, luigi's CLI, a central scheduler)."""
