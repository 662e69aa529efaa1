//! The template and the code agree: binaries, environment variables, table keys and index, the
//! attribute names of the filter policies, the default sender list and the default alert statuses.

use crate::moto::project_root;
use crate::template::{self, list, text};
use qapla::aws::endpoint::{Endpoints, LOCAL_ENDPOINT_URL, LOCAL_ENDPOINT_URL_DYNAMODB};
use qapla::config::{NOTIFIER_VARS, WEBHOOK_VARS};
use qapla::notify::{attr, EventType};
use qapla::table as items;
use std::collections::BTreeSet;

const FUNCTIONS: [(&str, &str, bool); 4] = [
    ("ShipmentsFunction", "shipments", true),
    ("ReturnsFunction", "returns", true),
    ("OrdersFunction", "orders", true),
    ("NotifierFunction", "notifier", false),
];

#[test]
fn every_function_builds_a_binary_of_the_workspace() {
    for (logical_id, binary, _) in FUNCTIONS {
        let f = template::resource(logical_id);
        assert_eq!(text(&f["Type"], "Type"), "AWS::Serverless::Function");
        assert_eq!(
            text(&f["Metadata"]["BuildMethod"], "BuildMethod"),
            "rust-cargolambda"
        );
        assert_eq!(
            text(&f["Metadata"]["BuildProperties"]["Binary"], "Binary"),
            binary,
            "{logical_id}"
        );
        let manifest = project_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        let cargo = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        assert!(
            cargo.contains(&format!("name = \"{binary}\"")),
            "{logical_id}: no package {binary}"
        );
        assert!(project_root()
            .join("functions")
            .join(binary)
            .join("src/main.rs")
            .exists());
    }
}

/// The names of a mapping's keys.
fn keys(v: &serde_norway::Value) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn functions_get_exactly_the_variables_the_code_reads() {
    let globals = keys(&template::template()["Globals"]["Function"]["Environment"]["Variables"]);
    assert_eq!(
        globals,
        BTreeSet::from([
            LOCAL_ENDPOINT_URL.to_owned(),
            LOCAL_ENDPOINT_URL_DYNAMODB.to_owned()
        ]),
        "every function gets the local endpoints, and nothing else, from Globals"
    );
    for (logical_id, _, webhook) in FUNCTIONS {
        let vars = &template::resource(logical_id)["Properties"]["Environment"]["Variables"];
        assert!(vars.is_mapping(), "{logical_id} has no environment");
        let expected: BTreeSet<String> = if webhook {
            &WEBHOOK_VARS[..]
        } else {
            &NOTIFIER_VARS[..]
        }
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
        assert_eq!(keys(vars), expected, "{logical_id}");
    }
}

#[test]
fn the_local_endpoints_are_inert_when_deployed() {
    let variables = &template::template()["Globals"]["Function"]["Environment"]["Variables"];
    let mut deployed = Vec::new();
    for (variable, parameter_name) in [
        (LOCAL_ENDPOINT_URL, "LocalEndpointUrl"),
        (LOCAL_ENDPOINT_URL_DYNAMODB, "LocalDynamoDbEndpointUrl"),
    ] {
        let parameter = &template::template()["Parameters"][parameter_name];
        assert_eq!(text(&parameter["Type"], parameter_name), "String");
        let default = text(&parameter["Default"], parameter_name);
        assert_eq!(
            default, "",
            "deployed, the functions use AWS's own endpoints"
        );
        deployed.push((variable, default.to_owned()));
        let value = &variables[variable];
        match value {
            serde_norway::Value::Tagged(t) => {
                assert_eq!(t.tag, "Ref", "{value:?}");
                assert_eq!(t.value.as_str(), Some(parameter_name), "{value:?}");
            }
            other => panic!("{variable} must be !Ref {parameter_name}, not {other:?}"),
        }
    }
    let endpoints = Endpoints::from_lookup(|name| {
        deployed
            .iter()
            .find(|(variable, _)| *variable == name)
            .map(|(_, value)| value.clone())
    });
    assert_eq!(endpoints, Endpoints::default());
}

#[test]
fn the_default_senders_are_the_ones_the_code_allows() {
    let default = text(
        &template::template()["Parameters"]["AllowedSources"]["Default"],
        "AllowedSources Default",
    );
    let listed: Vec<&str> = default.split(',').map(str::trim).collect();
    assert_eq!(listed, qapla::auth::QAPLA_SOURCES);
}

#[test]
fn the_default_alert_statuses_are_the_status_tables() {
    // The code's default, read from the status table's rows.
    let code = qapla::notify::AlertRule::default().to_string();
    let template = text(
        &template::template()["Parameters"]["AlertStatuses"]["Default"],
        "AlertStatuses Default",
    );
    assert_eq!(template, code, "template.yaml AlertStatuses");

    // samconfig.toml shows it in the comment of the guided deploy's optional parameters.
    let path = project_root().join("samconfig.toml");
    let samconfig =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shown: Vec<&str> = samconfig
        .lines()
        .filter_map(|l| {
            l.trim_start_matches(['#', ' '])
                .strip_prefix("AlertStatuses=\"")
        })
        .filter_map(|rest| rest.split_once('"').map(|(value, _)| value))
        .collect();
    assert_eq!(shown, [code.as_str()], "samconfig.toml AlertStatuses");

    // The local variables of `sam local invoke` (tools/gen_events.py writes them).
    let env = crate::sam_local::EnvFile::read().unwrap_or_else(|e| panic!("{e}"));
    let local = env
        .shared(qapla::config::QAPLA_ALERT_STATUSES)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(local, code, "events/env.local.json");
}

#[test]
fn the_table_has_the_keys_index_and_ttl_the_code_uses() {
    let props = &template::resource("Table")["Properties"];
    let keys = |schema: &serde_norway::Value| -> Vec<(String, String)> {
        list(schema, "KeySchema")
            .iter()
            .map(|k| {
                (
                    text(&k["AttributeName"], "name").to_owned(),
                    text(&k["KeyType"], "type").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&props["KeySchema"]),
        [
            (items::PK.to_owned(), "HASH".to_owned()),
            (items::SK.to_owned(), "RANGE".to_owned())
        ]
    );
    let indexes = list(&props["GlobalSecondaryIndexes"], "GlobalSecondaryIndexes");
    let gsi = indexes
        .iter()
        .find(|i| i["IndexName"].as_str() == Some(items::GSI1))
        .unwrap_or_else(|| panic!("no index {}", items::GSI1));
    assert_eq!(
        keys(&gsi["KeySchema"]),
        [
            (items::GSI1_PK.to_owned(), "HASH".to_owned()),
            (items::GSI1_SK.to_owned(), "RANGE".to_owned())
        ]
    );
    assert_eq!(
        text(&props["TimeToLiveSpecification"]["AttributeName"], "TTL"),
        items::TTL
    );
    assert_eq!(
        text(&props["StreamSpecification"]["StreamViewType"], "stream"),
        "NEW_AND_OLD_IMAGES"
    );
}

#[test]
fn filter_policies_use_the_attributes_the_notifier_publishes() {
    for logical_id in ["AlertEmailSubscription", "AlertSmsSubscription"] {
        let policy =
            template::to_json(&template::resource(logical_id)["Properties"]["FilterPolicy"]);
        let policy = policy
            .as_object()
            .unwrap_or_else(|| panic!("{logical_id}: no filter policy"));
        for (name, values) in policy {
            if name == "$or" {
                let names = values
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|alt| alt.as_object().into_iter().flat_map(|alt| alt.keys()));
                for alt in names {
                    assert!(
                        attr::ALL.contains(&alt.as_str()),
                        "{logical_id}: unknown attribute {alt} in $or"
                    );
                }
                continue;
            }
            assert!(
                attr::ALL.contains(&name.as_str()),
                "{logical_id}: unknown attribute {name}"
            );
            let values: Vec<&str> = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            match name.as_str() {
                attr::EVENT => assert_eq!(
                    values,
                    [EventType::StatusChanged.as_str(), EventType::Stuck.as_str()]
                ),
                attr::SEVERITY => assert_eq!(values, ["warning", "exception"]),
                _ => {}
            }
        }
    }
}

/// `LocalEndpointUrl` and `LocalDynamoDbEndpointUrl` take only a local run's store, and every
/// value the template takes, the functions take too (and `QaplaApiUrl` only https, which the
/// reconciler takes). The pattern is run as a JSON Schema `pattern`: the same syntax as
/// CloudFormation's for what it uses.
#[test]
fn the_endpoint_parameters_allow_only_a_local_store() {
    use qapla::config::{check_url, PlainHttp};
    let allows = |parameter: &str, value: &str| -> bool {
        let p = &template::template()["Parameters"][parameter];
        let pattern = text(&p["AllowedPattern"], parameter);
        let schema = serde_json::json!({"type": "string", "pattern": pattern});
        jsonschema::draft202012::new(&schema)
            .unwrap_or_else(|e| panic!("{parameter}: {e}"))
            .is_valid(&serde_json::json!(value))
    };
    for parameter in ["LocalEndpointUrl", "LocalDynamoDbEndpointUrl"] {
        let p = &template::template()["Parameters"][parameter];
        assert!(allows(parameter, text(&p["Default"], parameter)));
        for value in [
            "http://host.docker.internal:5050",
            "http://127.0.0.1:8000",
            "http://localhost:5051/",
            "http://172.17.0.1:5050",
            "http://10.0.0.7:4566",
            "http://192.168.1.20:5050",
            "http://[::1]:8000",
            "https://host.docker.internal:5050",
        ] {
            assert!(allows(parameter, value), "{parameter}: {value}");
            assert_eq!(check_url(value, PlainHttp::Local), Ok(()), "{value}");
        }
        for value in [
            "http://store.example.com:5050",
            "https://store.example.com",
            "http://8.8.8.8:8000",
            "http://172.32.0.1:5050",
            "http://169.254.169.254",
            "http://127.0.0.1.example.com:5050",
            "http://127.0.0.1@example.com",
            "http://host.docker.internal:5050/x",
            "ftp://127.0.0.1",
            " http://127.0.0.1:8000",
        ] {
            assert!(!allows(parameter, value), "{parameter}: {value}");
        }
    }
    for value in ["https://api.qapla.it", "https://api.qapla.it:8443"] {
        assert!(allows("QaplaApiUrl", value), "{value}");
        assert_eq!(check_url(value, PlainHttp::Loopback), Ok(()));
    }
    assert!(!allows("QaplaApiUrl", "http://api.qapla.it"));
}
