//! The v1 notification document checked against its published JSON Schema,
//! `docs/notification.schema.json`, read from the repository when first needed: every message a
//! test or the local runner takes from a subscriber queue goes through [`check`] (see
//! `stack::Subscribers::drain`), so the schema and what the code publishes cannot drift apart.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where the schema is kept: the file the notifications page links to.
pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/notification.schema.json")
}

/// The schema's validator, built once per process.
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let file = path();
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let schema: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
        jsonschema::draft202012::new(&schema)
            .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", file.display()))
    })
}

/// Every way `document` breaks the schema, each with where it is in the document; empty when it
/// is a valid v1 notification.
pub fn violations(document: &Value) -> Vec<String> {
    validator()
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Panics, naming each violation and the document, unless `document` is a valid v1
/// notification.
pub fn check(document: &Value) {
    let broken = violations(document);
    assert!(
        broken.is_empty(),
        "a notification document breaks {}:\n  {}\n{document:#}",
        path().display(),
        broken.join("\n  ")
    );
}

/// The notification a queue message carries: the message itself (an SNS subscription with raw
/// delivery), or the `detail` of an EventBridge event (a bus rule's SQS target).
pub fn document_of(message: &Value) -> &Value {
    match message.get("detail-type") {
        Some(_) => &message["detail"],
        None => message,
    }
}
