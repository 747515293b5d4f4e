//! The apps the load benchmarks serve, shared by the benchmark binary and the in-process
//! benchmark of the layer's own cost (`benches/layer.rs`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apps;
