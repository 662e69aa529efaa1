//! The template and the code agree: binaries, environment variables, table keys and index, the
//! attribute names of the filter policies, the default sender list and the default alert statuses.

use crate::moto::project_root;
use crate::template::{self, list, text};
use qapla::config::{NOTIFIER_VARS, WEBHOOK_VARS};
use qapla::notify::{attr, EventType};
use qapla::table as items;
use qapla_aws::endpoint::{Endpoints, LOCAL_ENDPOINT_URL, LOCAL_ENDPOINT_URL_DYNAMODB};
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

/// Least privilege, checked against the source: each function's role holds exactly the actions
/// the SDK calls its code reaches make. What each function reaches is named here by adapter
/// method (its wiring in `aws::lambda` and `aws::reconciler`); which SDK calls a method makes is
/// read from the adapters' source, so a new call without its permission, or a permission no call
/// needs, fails here before a deploy does.
mod least_privilege {
    use super::*;
    use serde_norway::Value;
    use std::collections::BTreeMap;

    /// The adapter methods a function reaches: (file under shared/aws/src/, methods there).
    type Reach = &'static [(&'static str, &'static [&'static str])];

    /// Each function and what it reaches.
    const REACHES: [(&str, Reach); 7] = [
        (
            "ShipmentsFunction",
            &[
                ("dynamo.rs", &["record_shipment", "record_documents"]),
                ("s3.rs", &["put"]),
                ("heartbeat.rs", &["beat"]),
            ],
        ),
        (
            "ReturnsFunction",
            &[
                ("dynamo.rs", &["record_shipment", "record_documents"]),
                ("s3.rs", &["put"]),
                ("heartbeat.rs", &["beat"]),
            ],
        ),
        (
            "OrdersFunction",
            &[
                ("dynamo.rs", &["record_shipment", "record_documents"]),
                ("s3.rs", &["put"]),
                ("heartbeat.rs", &["beat"]),
            ],
        ),
        (
            "DrainFunction",
            &[
                (
                    "dynamo.rs",
                    &["record_shipment", "record_documents", "answers"],
                ),
                ("s3.rs", &["put", "get", "list", "delete"]),
            ],
        ),
        (
            "NotifierFunction",
            &[
                ("claims.rs", &["claim", "complete", "release"]),
                ("sns.rs", &["publish"]),
                ("eventbridge.rs", &["put"]),
            ],
        ),
        (
            "StuckFunction",
            &[
                ("reader.rs", &["open_before", "query"]),
                ("stuck.rs", &["claim", "release", "update"]),
                ("heartbeat.rs", &["read", "watch"]),
                ("claims.rs", &["claim", "complete", "release"]),
                ("sns.rs", &["publish"]),
                ("eventbridge.rs", &["put"]),
            ],
        ),
        (
            "ReconcilerFunction",
            &[
                ("ssm.rs", &["channel_keys"]),
                (
                    "ledger.rs",
                    &["state", "has_history", "checkpoint", "advance"],
                ),
                ("dynamo.rs", &["record_shipment"]),
            ],
        ),
    ];

    /// The IAM actions of an SDK operation as the adapters call it (`.put_item()`).
    const OPERATIONS: [(&str, &str); 14] = [
        ("put_item", "dynamodb:PutItem"),
        ("get_item", "dynamodb:GetItem"),
        ("delete_item", "dynamodb:DeleteItem"),
        ("update_item", "dynamodb:UpdateItem"),
        ("query", "dynamodb:Query"),
        ("scan", "dynamodb:Scan"),
        ("put_object", "s3:PutObject"),
        ("get_object", "s3:GetObject"),
        ("delete_object", "s3:DeleteObject"),
        ("list_objects_v2", "s3:ListBucket"),
        ("publish", "sns:Publish"),
        ("put_events", "events:PutEvents"),
        ("get_parameters", "ssm:GetParameters"),
        ("get_parameter", "ssm:GetParameter"),
    ];

    /// A transaction is authorised item by item: the action of each kind of item it is built of.
    const TRANSACTION_ITEMS: [(&str, &str); 4] = [
        (".put(", "dynamodb:PutItem"),
        (".update(", "dynamodb:UpdateItem"),
        (".condition_check(", "dynamodb:ConditionCheckItem"),
        (".delete(", "dynamodb:DeleteItem"),
    ];

    fn source(file: &str) -> String {
        let path = project_root().join("shared/aws/src").join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The body of `fn name` in `text`, braces matched (the adapters' methods are unique per
    /// file except where a trait's and a helper's share it: all of them).
    fn bodies<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        let mut out = Vec::new();
        for (at, _) in text.match_indices(&format!("fn {name}(")) {
            let open = at + text[at..].find('{').expect("a body");
            let mut depth = 0;
            for (i, c) in text[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            out.push(&text[open..=open + i]);
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        assert!(!out.is_empty(), "no fn {name}");
        out
    }

    /// The actions the SDK calls of a method body need.
    fn actions_of(file_text: &str, body: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (operation, action) in OPERATIONS {
            let call = format!(".{operation}()");
            if body.contains(&call) {
                out.insert(action.to_owned());
                if operation == "get_parameters" && body.contains(".with_decryption(true)") {
                    // A SecureString is decrypted with the caller's own permission.
                    out.insert("kms:Decrypt".to_owned());
                }
            }
        }
        // The store's writes go through one transaction helper: its items' kinds count.
        if body.contains("self.transact(") || body.contains("self.write_documents(") {
            let builder = bodies(file_text, "put").concat();
            assert!(file_text.contains(".transact_write_items()"));
            for (item, action) in TRANSACTION_ITEMS {
                if builder.contains(&format!("TransactWriteItem::builder(){item}")) {
                    out.insert(action.to_owned());
                }
            }
        }
        out
    }

    fn code_actions(reaches: &[(&str, &[&str])]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (file, methods) in reaches {
            let text = source(file);
            for method in *methods {
                for body in bodies(&text, method) {
                    out.extend(actions_of(&text, body));
                }
            }
        }
        out
    }

    /// The actions of a role's statements, whatever condition (`!If`) holds them; SAM's policy
    /// templates by what they grant. `DynamoDBStreamReadPolicy` is left out: the event source
    /// mapping reads the stream with the role, the code never does.
    fn role_actions(policies: &Value, out: &mut BTreeMap<String, usize>) {
        match policies {
            Value::Sequence(items) => items.iter().for_each(|p| role_actions(p, out)),
            Value::Tagged(t) => role_actions(&t.value, out),
            Value::Mapping(m) => {
                for (k, v) in m {
                    match k.as_str() {
                        Some("SNSPublishMessagePolicy") => {
                            *out.entry("sns:Publish".to_owned()).or_default() += 1;
                        }
                        Some("DynamoDBStreamReadPolicy") => {}
                        Some("Action") => {
                            let actions = match v {
                                Value::String(one) => vec![one.clone()],
                                other => list(other, "Action")
                                    .iter()
                                    .map(|a| text(a, "action").to_owned())
                                    .collect(),
                            };
                            for a in actions {
                                *out.entry(a).or_default() += 1;
                            }
                        }
                        _ => role_actions(v, out),
                    }
                }
            }
            _ => {}
        }
    }

    #[test]
    fn each_role_holds_exactly_the_actions_its_code_calls() {
        let functions: BTreeSet<&str> = template::template()["Resources"]
            .as_mapping()
            .expect("resources")
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .filter_map(|(k, _)| k.as_str())
            .collect();
        let named: BTreeSet<&str> = REACHES.iter().map(|(f, _)| *f).collect();
        assert_eq!(functions, named, "every function is named here");
        let mut wrong = Vec::new();
        for (function, reaches) in REACHES {
            let mut held = BTreeMap::new();
            role_actions(
                &template::resource(function)["Properties"]["Policies"],
                &mut held,
            );
            let held_set: BTreeSet<String> = held.keys().cloned().collect();
            let called = code_actions(reaches);
            for extra in held_set.difference(&called) {
                wrong.push(format!(
                    "{function} holds {extra}, which its code never calls"
                ));
            }
            for missing in called.difference(&held_set) {
                wrong.push(format!("{function} calls {missing} without holding it"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// The heartbeats' actions are held only on their own items: each function that reaches
    /// the heartbeat adapter holds exactly the actions of the methods it reaches in statements
    /// restricted to `HEARTBEAT#*`, and no other function holds any such statement (the set of
    /// actions above cannot tell, since the same actions serve other items too).
    #[test]
    fn heartbeat_actions_are_held_on_the_heartbeat_items_alone() {
        let prefix = format!("{}*", items::heartbeat_pk(""));
        fn statements(v: &Value, out: &mut Vec<Value>) {
            match v {
                Value::Sequence(items) => items.iter().for_each(|p| statements(p, out)),
                Value::Tagged(t) => statements(&t.value, out),
                Value::Mapping(m) => {
                    if m.contains_key("Effect") {
                        out.push(v.clone());
                    }
                    m.values().for_each(|p| statements(p, out));
                }
                _ => {}
            }
        }
        for (function, reaches) in REACHES {
            let mut all = Vec::new();
            statements(
                &template::resource(function)["Properties"]["Policies"],
                &mut all,
            );
            let mut held = BTreeMap::new();
            for statement in all.iter().filter(|st| {
                let keys = &st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                keys.as_sequence()
                    .is_some_and(|k| k.iter().any(|k| k.as_str() == Some(prefix.as_str())))
            }) {
                let keys =
                    &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                assert_eq!(
                    list(keys, "LeadingKeys").len(),
                    1,
                    "{function}: {statement:?}"
                );
                role_actions(statement, &mut held);
            }
            let held: BTreeSet<String> = held.keys().cloned().collect();
            let heartbeat: Vec<_> = reaches
                .iter()
                .filter(|(file, _)| *file == "heartbeat.rs")
                .copied()
                .collect();
            assert_eq!(held, code_actions(&heartbeat), "{function}");
        }
    }

    /// The reading of the source finds what it must: an update in a transaction, a call.
    #[test]
    fn the_source_reading_sees_calls_and_transaction_items() {
        let file = "fn put(&self) { TransactWriteItem::builder().update(u).build() }\n\
                    fn record(&self) { self.transact(x) }\n\
                    fn get(&self) { self.client\n.get_object()\n.send() }\n\
                    fn once(&self) { self.client.transact_write_items() }";
        assert_eq!(
            actions_of(file, bodies(file, "record")[0]),
            BTreeSet::from(["dynamodb:UpdateItem".to_owned()])
        );
        assert_eq!(
            actions_of(file, bodies(file, "get")[0]),
            BTreeSet::from(["s3:GetObject".to_owned()])
        );
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
