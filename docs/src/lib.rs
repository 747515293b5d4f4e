//! The guide, as documentation whose code blocks compile and run under `cargo test`.
#![doc = include_str!("../guide/README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc = include_str!("../guide/getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("../guide/verbs.md")]
pub mod verbs {}

#[doc = include_str!("../guide/templates.md")]
pub mod templates {}

#[doc = include_str!("../guide/drivers.md")]
pub mod drivers {}

#[doc = include_str!("../guide/concurrency.md")]
pub mod concurrency {}

#[doc = include_str!("../guide/caching.md")]
pub mod caching {}

#[doc = include_str!("../guide/custom-store.md")]
pub mod custom_store {}

#[doc = include_str!("../guide/operators.md")]
pub mod operators {}

#[doc = include_str!("../guide/benchmarks.md")]
pub mod benchmarks {}
