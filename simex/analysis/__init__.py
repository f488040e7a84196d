"""Statistics and outputs: Spearman and bootstrap, transferability estimators, tables, figures, provenance."""
