"""The paper's experiments and the source-selection benchmark, built on the library above."""
