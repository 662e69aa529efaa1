//! Shared by the integration tests (`it/`), the benchmarks (`benches/`) and the local runner
//! (`bin/local/`): a local AWS of their own (DynamoDB Local and moto), the template as the one
//! description of the stack, the real handlers.

pub mod archive;
pub mod delivery;
pub mod dynamodb_local;
pub mod events;
pub mod local_aws;
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
