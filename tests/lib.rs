//! Shared by the integration tests (`it/`), the system benchmark (`benches/system.rs`) and the
//! local runner (`bin/local/`): a moto server of their own, the template as the one description
//! of the stack, the real handlers.

pub mod archive;
pub mod delivery;
pub mod events;
pub mod moto;
pub mod notification_schema;
pub mod notifier_rig;
pub mod process;
pub mod proxy;
pub mod qapla_fake;
pub mod runtime_api;
pub mod sam_local;
pub mod stack;
pub mod stream;
pub mod table;
pub mod template;
