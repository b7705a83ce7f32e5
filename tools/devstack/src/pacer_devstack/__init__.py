"""Dev-only tooling: the one-command stack behind ``make run`` and the test fixtures' servers."""
