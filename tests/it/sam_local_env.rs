//! `sam local invoke` with `events/env.local.json` as committed: the file gives each function
//! exactly the variables the template declares, values the functions accept, and the names of
//! the store `make sam-local` creates, which is the template's.

use crate::events;
use crate::local_aws::LocalEndpoints;
use crate::sam_local::EnvFile;
use crate::sam_local::{LOCAL_ENDPOINT_URL, LOCAL_ENDPOINT_URL_DYNAMODB};
use crate::stack::{self, REGION};
use crate::template::{self, list, text};
use qapla::config::{NotifierConfig, RecoverConfig, StuckConfig, WebhookConfig};
use qapla_aws::endpoint::Endpoints;
use std::collections::{BTreeMap, BTreeSet};

/// Every function of the template, with the variables SAM hands it (its own and the globals').
fn template_functions() -> BTreeMap<String, BTreeSet<String>> {
    let names = |v: &serde_norway::Value| -> BTreeSet<String> {
        v.as_mapping()
            .into_iter()
            .flat_map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_owned)))
            .collect()
    };
    let globals = names(&template::template()["Globals"]["Function"]["Environment"]["Variables"]);
    template::template()["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let mut vars = names(&r["Properties"]["Environment"]["Variables"]);
            vars.extend(globals.iter().cloned());
            (id.as_str().expect("logical id").to_owned(), vars)
        })
        .collect()
}

#[test]
fn the_env_file_gives_each_function_exactly_the_variables_the_template_declares() {
    let file = EnvFile::read().expect("the env file");
    let functions = template_functions();
    assert_eq!(
        file.functions.keys().collect::<Vec<_>>(),
        functions.keys().collect::<Vec<_>>(),
        "one entry per function of the template"
    );
    for (id, vars) in &functions {
        let given: BTreeSet<String> = file.functions[id].keys().cloned().collect();
        // SAM ignores a variable the template does not declare: one missing from the file
        // would silently take the template's value.
        assert_eq!(&given, vars, "{id}");
    }
}

#[test]
fn the_functions_accept_the_env_file_and_reach_the_local_store() {
    let file = EnvFile::read().expect("the env file");
    for (id, vars) in &file.functions {
        let lookup = |k: &str| vars.get(k).cloned();
        if id == "NotifierFunction" {
            let config = NotifierConfig::from_lookup(lookup).expect("notifier configuration");
            assert!(config
                .topic_arn
                .starts_with(&format!("arn:aws:sns:{REGION}:")));
        } else if id == "ReconcilerFunction" {
            RecoverConfig::from_lookup(lookup).unwrap_or_else(|e| panic!("{id}: {e}"));
        } else if id == "StuckFunction" {
            let config = StuckConfig::from_lookup(lookup).expect("stuck configuration");
            assert_eq!(config.channels, [qapla::fixtures::DEMO_CHANNEL]);
        } else {
            WebhookConfig::from_lookup(lookup).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(
                vars["QAPLA_CHANNELS"],
                qapla::fixtures::demo_channels(),
                "{id}: the demo channel of the sample events"
            );
        }
        let endpoints = Endpoints::from_lookup(lookup);
        let moto = file.endpoint().expect("one endpoint for moto");
        let dynamodb = file.dynamodb_endpoint().expect("one endpoint for DynamoDB");
        for service in qapla_aws::endpoint::SERVICES {
            let want = if service.starts_with("DynamoDB") {
                &dynamodb
            } else {
                &moto
            };
            assert_eq!(
                endpoints.of(service),
                Some(want.as_str()),
                "{id}: {service}"
            );
        }
    }
    let (host, port) = file.host_port(LOCAL_ENDPOINT_URL).expect("host and port");
    let (dynamodb_host, dynamodb_port) = file
        .host_port(LOCAL_ENDPOINT_URL_DYNAMODB)
        .expect("host and port");
    assert_eq!(host, "host.docker.internal");
    assert_eq!(dynamodb_host, host);
    assert!(port > 1024, "a port anyone may listen on");
    assert!(dynamodb_port > 1024, "a port anyone may listen on");
    assert_ne!(port, dynamodb_port);
}

#[test]
fn every_sample_event_has_an_answer_under_sam_local_invoke() {
    for e in events::sample_events() {
        let answer = e.sam_local_answer();
        if e.sam_local.is_some() {
            // Only the sender check differs, as env.local.json allows any sender.
            assert_eq!(e.expected.outcome, "rejected:foreign_sender", "{}", e.path);
            assert_eq!(answer.status, 200, "{}", e.path);
        }
        assert!(
            template::template()["Resources"][e.logical_id().as_str()].is_mapping(),
            "{}: no function {}",
            e.path,
            e.logical_id()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_store_has_the_template_table_topic_and_alert_filter() {
    let file = EnvFile::read().expect("the env file");
    let table = file.shared("TABLE_NAME").expect("one table");
    let topic_arn = file.shared("TOPIC_ARN").expect("one topic");
    let topic = topic_arn.rsplit(':').next().expect("topic name");
    let sdk = stack::sdk(&LocalEndpoints::shared()).await;
    let subscribers = stack::create_local_stack(&sdk, &table, topic).await;
    assert_eq!(subscribers.topic_arn, topic_arn, "the notifier's topic");

    let props = &template::resource("Table")["Properties"];
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let described = dynamo.describe_table().table_name(&table).send().await;
    let described = described.expect("the table").table.expect("table");
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        schema
            .iter()
            .map(|k| (k.attribute_name.clone(), k.key_type.as_str().to_owned()))
            .collect()
    };
    let template_keys = |v: &serde_norway::Value| -> Vec<(String, String)> {
        list(v, "KeySchema")
            .iter()
            .map(|k| {
                let name = text(&k["AttributeName"], "AttributeName").to_owned();
                (name, text(&k["KeyType"], "KeyType").to_owned())
            })
            .collect()
    };
    assert_eq!(
        keys(described.key_schema()),
        template_keys(&props["KeySchema"])
    );
    let indexes = described.global_secondary_indexes();
    let declared = list(&props["GlobalSecondaryIndexes"], "GlobalSecondaryIndexes");
    assert_eq!(indexes.len(), declared.len());
    for (got, want) in indexes.iter().zip(declared) {
        assert_eq!(got.index_name(), want["IndexName"].as_str());
        assert_eq!(keys(got.key_schema()), template_keys(&want["KeySchema"]));
    }
    let stream = described.stream_specification().expect("a stream");
    assert_eq!(
        stream.stream_view_type().map(|v| v.as_str()),
        props["StreamSpecification"]["StreamViewType"].as_str()
    );

    let sns = aws_sdk_sns::Client::new(&sdk);
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .expect("subscriptions");
    let mut policies = Vec::new();
    for s in subs.subscriptions() {
        let attributes = sns
            .get_subscription_attributes()
            .subscription_arn(s.subscription_arn().unwrap_or_default())
            .send()
            .await
            .expect("subscription attributes");
        let policy = attributes
            .attributes()
            .and_then(|a| a.get("FilterPolicy"))
            .map(|p| serde_json::from_str::<serde_json::Value>(p).expect("JSON policy"));
        policies.push(policy);
    }
    let alert: serde_json::Value =
        serde_json::from_str(&stack::alert_policy()).expect("template policy");
    policies.sort_by_key(|p| p.is_some());
    assert_eq!(
        policies,
        [None, Some(alert)],
        "one unfiltered, one alert queue"
    );
}
