//! Benchmarks only: each crate's criterion benchmarks are under `benches/`
//! (`cargo bench -p optlayer-benches --bench queue_push_pop`, say).
