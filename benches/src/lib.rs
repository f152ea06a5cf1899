//! Benchmarks for mailmigrate.
