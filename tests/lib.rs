//! Shared by the integration tests (`it/`) and the system benchmark (`benches/system.rs`): a moto
//! server of their own, the template as the one description of the stack, the real handlers.

pub mod moto;
pub mod proxy;
pub mod runtime_api;
pub mod support;
pub mod template;
