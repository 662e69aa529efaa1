//! Two stacks of the template live in one account and region (a merchant's staging and
//! production, two shops): no resource may carry a fixed physical name, since a name is unique
//! per account and region and the second stack would fail to create. Every name is left to
//! CloudFormation or derived from the stack's name. `make stack-check` deploys two stacks side
//! by side; this test says which property broke it before anything is deployed.

use crate::template;
use serde_norway::Value;

/// Each resource type the template uses and the property that would give it a physical name
/// (None: the type has none). A type not listed fails the test until someone classifies it.
const NAME_PROPERTY: &[(&str, Option<&str>)] = &[
    ("AWS::ApiGateway::Account", None),
    ("AWS::CloudWatch::Alarm", Some("AlarmName")),
    ("AWS::CloudWatch::Dashboard", Some("DashboardName")),
    ("AWS::DynamoDB::Table", Some("TableName")),
    ("AWS::IAM::Role", Some("RoleName")),
    ("AWS::Logs::LogGroup", Some("LogGroupName")),
    ("AWS::Logs::MetricFilter", Some("FilterName")),
    ("AWS::S3::Bucket", Some("BucketName")),
    ("AWS::S3::BucketPolicy", None),
    ("AWS::SNS::Subscription", None),
    ("AWS::SNS::Topic", Some("TopicName")),
    ("AWS::SQS::Queue", Some("QueueName")),
    ("AWS::Serverless::Api", Some("Name")),
    ("AWS::Serverless::Function", Some("FunctionName")),
];

/// The same for the events of a SAM function. SAM names a `ScheduleV2` schedule (and a
/// `Schedule` rule) after its logical id unless it has a `Name` or `OmitName: true`.
const EVENT_NAME_PROPERTY: &[(&str, Option<&str>)] = &[
    ("Api", None),
    ("DynamoDB", None),
    ("Schedule", Some("Name")),
    ("ScheduleV2", Some("Name")),
];

/// A name is derived when it is a `!Sub` that holds the stack's name.
fn derived(name: &Value) -> bool {
    match name {
        Value::Tagged(t) if t.tag == "Sub" => {
            let text = match &t.value {
                Value::Sequence(parts) => parts.first().and_then(Value::as_str),
                other => other.as_str(),
            };
            text.is_some_and(|s| s.contains("${AWS::StackName}"))
        }
        _ => false,
    }
}

fn lookup<'a>(table: &[(&'a str, Option<&'a str>)], kind: &str) -> Option<Option<&'a str>> {
    table.iter().find(|(k, _)| *k == kind).map(|(_, p)| *p)
}

/// Every resource or event of `resources` that would fix a physical name, as
/// "<logical id>[.<event>]: <why>".
fn fixed_names(resources: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (id, resource) in resources.as_mapping().expect("Resources") {
        let id = id.as_str().expect("logical id");
        let kind = resource["Type"].as_str().unwrap_or("?");
        let props = &resource["Properties"];
        match lookup(NAME_PROPERTY, kind) {
            None => found.push(format!("{id}: type {kind} not classified in NAME_PROPERTY")),
            Some(Some(p)) if !props[p].is_null() && !derived(&props[p]) => {
                found.push(format!("{id}: {p} is fixed: {:?}", props[p]));
            }
            Some(_) => {}
        }
        let Some(events) = props["Events"].as_mapping() else {
            continue;
        };
        for (event, e) in events {
            let event = event.as_str().expect("event id");
            let kind = e["Type"].as_str().unwrap_or("?");
            let p = &e["Properties"];
            match lookup(EVENT_NAME_PROPERTY, kind) {
                None => found.push(format!(
                    "{id}.{event}: event type {kind} not classified in EVENT_NAME_PROPERTY"
                )),
                Some(Some(name)) if p[name].is_null() => {
                    if p["OmitName"].as_bool() != Some(true) {
                        found.push(format!(
                            "{id}.{event}: {kind} without {name} or OmitName: true is named {id}{event}"
                        ));
                    }
                }
                Some(Some(name)) if !derived(&p[name]) => {
                    found.push(format!("{id}.{event}: {name} is fixed: {:?}", p[name]));
                }
                Some(_) => {}
            }
        }
    }
    found
}

#[test]
fn no_resource_of_the_template_has_a_fixed_physical_name() {
    let found = fixed_names(&template::template()["Resources"]);
    assert!(
        found.is_empty(),
        "fixed physical names:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_name_check_finds_fixed_names_and_unnamed_schedules() {
    let resources: Value = serde_norway::from_str(
        r#"
Table: {Type: AWS::DynamoDB::Table, Properties: {TableName: qapla}}
Named: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "${AWS::StackName}-dlq"}}
Fixed: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "qapla-dlq"}}
Fn:
  Type: AWS::Serverless::Function
  Properties:
    FunctionName: !Sub ${AWS::StackName}-drain
    Events:
      Bare: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(5 minutes)}}
      Omitted: {Type: ScheduleV2, Properties: {OmitName: true}}
      Derived: {Type: ScheduleV2, Properties: {Name: !Sub "${AWS::StackName}-drain"}}
      Stream: {Type: Kinesis, Properties: {}}
Other: {Type: AWS::Scheduler::Schedule, Properties: {}}
"#,
    )
    .expect("yaml");
    let found = fixed_names(&resources);
    let ids: Vec<&str> = found
        .iter()
        .map(|f| f.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        ids,
        ["Table", "Fixed", "Fn.Bare", "Fn.Stream", "Other"],
        "{found:#?}"
    );
}
