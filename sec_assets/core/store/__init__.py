"""Storage: atomic Parquet partitions and the DuckDB catalog of views over them."""
