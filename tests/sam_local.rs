//! `events/env.local.json`, the `--env-vars` file of `sam local invoke`: what it gives each
//! function, and the local store it points at.

use crate::moto::project_root;
use serde_json::Value;
use std::collections::BTreeMap;

/// The file, as committed, from the project root.
pub const ENV_FILE: &str = "events/env.local.json";

/// The variables through which the functions reach the local store: moto, and DynamoDB Local.
pub use qapla_aws::endpoint::{LOCAL_ENDPOINT_URL, LOCAL_ENDPOINT_URL_DYNAMODB};

/// Each function's variables, by logical id.
pub struct EnvFile {
    pub functions: BTreeMap<String, BTreeMap<String, String>>,
}

impl EnvFile {
    pub fn read() -> Result<EnvFile, String> {
        let path = project_root().join(ENV_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{ENV_FILE}: {e}"))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("{ENV_FILE}: {e}"))?;
        let mut functions = BTreeMap::new();
        for (id, vars) in json
            .as_object()
            .ok_or(format!("{ENV_FILE}: not an object"))?
        {
            let vars = vars
                .as_object()
                .ok_or(format!("{ENV_FILE}: {id} is not an object"))?
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => Ok((k.clone(), s.to_owned())),
                    None => Err(format!("{ENV_FILE}: {id}.{k} is not a string")),
                })
                .collect::<Result<_, _>>()?;
            functions.insert(id.clone(), vars);
        }
        Ok(EnvFile { functions })
    }

    /// A function's variables.
    pub fn function(&self, logical_id: &str) -> Result<&BTreeMap<String, String>, String> {
        self.functions
            .get(logical_id)
            .ok_or(format!("{ENV_FILE} has no {logical_id}"))
    }

    /// The one value every function that has `var` gives it.
    pub fn shared(&self, var: &str) -> Result<String, String> {
        let mut values: Vec<&String> = self.functions.values().filter_map(|f| f.get(var)).collect();
        values.dedup();
        match values.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!("{ENV_FILE}: no function has {var}")),
            _ => Err(format!("{ENV_FILE}: the functions disagree on {var}")),
        }
    }

    /// Every function's variables together, for one `cargo lambda watch` serving them all.
    pub fn union(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for vars in self.functions.values() {
            for k in vars.keys() {
                out.insert(k.clone(), self.shared(k)?);
            }
        }
        Ok(out)
    }

    /// The local store's endpoint (moto), as the functions' containers reach it.
    pub fn endpoint(&self) -> Result<String, String> {
        self.shared(LOCAL_ENDPOINT_URL)
    }

    /// The local DynamoDB's endpoint, as the functions' containers reach it.
    pub fn dynamodb_endpoint(&self) -> Result<String, String> {
        self.shared(LOCAL_ENDPOINT_URL_DYNAMODB)
    }

    /// The host and port of the endpoint `var` names (one of the two above).
    pub fn host_port(&self, var: &str) -> Result<(String, u16), String> {
        let url = self.shared(var)?;
        let authority = url
            .strip_prefix("http://")
            .ok_or(format!("{ENV_FILE}: {var} is not an http:// URL: {url}"))?
            .trim_end_matches('/');
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or(format!("{ENV_FILE}: {var} has no port: {url}"))?;
        let port = port
            .parse()
            .map_err(|_| format!("{ENV_FILE}: {var} has no port: {url}"))?;
        Ok((host.to_owned(), port))
    }
}
