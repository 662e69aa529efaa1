//! Reads `template.yaml`, the one description of the stack, so the local table and the filter
//! policies in the tests are the deployed ones, not a second copy.

use serde_norway::Value;
use std::sync::OnceLock;

/// The template as YAML (CloudFormation tags such as `!Ref` are kept as tagged values).
pub fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = crate::moto::project_root().join("template.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("template.yaml: {e}"))
    })
}

/// A resource by logical id.
pub fn resource(logical_id: &str) -> &'static Value {
    let r = &template()["Resources"][logical_id];
    assert!(!r.is_null(), "template.yaml has no resource {logical_id}");
    r
}

/// A plain string at a path, panicking with the path if it is missing.
pub fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("template.yaml: {what} is not a string: {v:?}"))
}

/// A sequence at a path.
pub fn list<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    v.as_sequence()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("template.yaml: {what} is not a list: {v:?}"))
}

/// Converts a YAML value without tags into JSON (filter policies, for one).
pub fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| panic!("template.yaml: {e}"))
}
