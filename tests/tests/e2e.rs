//! End-to-end tests: run the `corpus` binary on the bundled sample data (one test binary, DESIGN.md §9).
