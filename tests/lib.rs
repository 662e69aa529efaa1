//! Integration tests live in `it/`: one test binary, so the workspace links it once.
