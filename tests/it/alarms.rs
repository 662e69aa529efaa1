//! The template raises an alarm for every way the webhook or its alerts can die unseen, keeps
//! personal data only where needed, and counts the log lines the code really writes.

use crate::template::{self, list, text};
use qapla::notify::batch;
use qapla::table as items;
use serde_norway::Value;

fn resources() -> impl Iterator<Item = (&'static str, &'static Value)> {
    template::template()["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?, v)))
}

fn of_type(kind: &str) -> Vec<(&'static str, &'static Value)> {
    resources()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

/// `!Ref X` as the tagged YAML value the template holds.
fn reference(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        _ => None,
    }
}

/// The alarms on a metric: (logical id, statistic, period, threshold).
fn alarms_on(namespace: &str, metric: &str) -> Vec<(&'static str, String, u64, f64)> {
    of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            a["Properties"]["Namespace"].as_str() == Some(namespace)
                && a["Properties"]["MetricName"].as_str() == Some(metric)
        })
        .map(|(id, a)| {
            let p = &a["Properties"];
            (
                id,
                text(&p["Statistic"], "Statistic").to_owned(),
                p["Period"].as_u64().expect("Period"),
                p["Threshold"].as_f64().expect("Threshold"),
            )
        })
        .collect()
}

/// The metric a log group's filters feed when their pattern holds every one of `words`.
fn filtered_metric(group: &str, words: &[&str]) -> String {
    let found: Vec<String> = of_type("AWS::Logs::MetricFilter")
        .into_iter()
        .filter(|(_, f)| reference(&f["Properties"]["LogGroupName"]) == Some(group))
        .filter(|(_, f)| {
            let pattern = text(&f["Properties"]["FilterPattern"], "FilterPattern");
            words.iter().all(|w| pattern.contains(w))
        })
        .map(|(_, f)| {
            text(
                &list(&f["Properties"]["MetricTransformations"], "transformations")[0]
                    ["MetricName"],
                "MetricName",
            )
            .to_owned()
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{group}: one filter on {words:?}, found {found:?}"
    );
    found[0].clone()
}

#[test]
fn every_alarm_reaches_the_ops_topic_whose_address_is_required() {
    let alarms = of_type("AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 15, "{} alarms", alarms.len());
    for (id, a) in alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let targets = list(&a["Properties"][actions], actions);
            assert!(
                targets.iter().any(|t| reference(t) == Some("OpsTopic")),
                "{id}: {actions}"
            );
        }
    }
    let ops = &template::template()["Parameters"]["OpsEmail"];
    assert!(ops.get("Default").is_none(), "OpsEmail must be asked for");
    let pattern = text(&ops["AllowedPattern"], "AllowedPattern");
    let optional = text(
        &template::template()["Parameters"]["AlertEmail"]["AllowedPattern"],
        "AllowedPattern",
    );
    // The alert address's pattern allows empty as `^(address)?$`; the ops one is the address alone.
    assert_eq!(
        optional,
        format!(
            "^({})?$",
            pattern.trim_start_matches('^').trim_end_matches('$')
        )
    );
    let subscription = template::resource("OpsEmailSubscription");
    assert!(subscription.get("Condition").is_none());
    assert_eq!(
        reference(&subscription["Properties"]["Endpoint"]),
        Some("OpsEmail")
    );
}

#[test]
fn a_regenerated_key_alarms_in_a_burst_and_in_a_trickle() {
    let outcome = format!("rejected:{}", qapla::webhook::Rejection::UnknownKey.code());
    for group in ["ShipmentsLogGroup", "ReturnsLogGroup", "OrdersLogGroup"] {
        let metric = filtered_metric(group, &["$.outcome", &format!("\"{outcome}\"")]);
        assert_eq!(metric, "UnknownKeyRefusals");
    }
    let alarms = alarms_on("QaplaWebhooks", "UnknownKeyRefusals");
    assert!(
        alarms.iter().any(|(_, _, period, _)| *period <= 900),
        "{alarms:?}"
    );
    assert!(
        alarms.iter().any(|(_, _, period, _)| *period == 86_400),
        "{alarms:?}"
    );
}

#[test]
fn each_burst_alarm_has_a_daily_sum_beside_it() {
    let alarms = of_type("AWS::CloudWatch::Alarm");
    let mut bursts = 0;
    for (id, a) in &alarms {
        let p = &a["Properties"];
        let (Some(namespace), Some(metric)) = (p["Namespace"].as_str(), p["MetricName"].as_str())
        else {
            continue;
        };
        let burst = p["Statistic"].as_str() == Some("Sum")
            && p["Period"].as_u64().is_some_and(|s| s < 86_400)
            && p["Threshold"].as_f64().is_some_and(|t| t > 1.0);
        if burst {
            bursts += 1;
            let daily = alarms_on(namespace, metric)
                .into_iter()
                .filter(|(_, stat, period, _)| stat == "Sum" && *period == 86_400)
                .count();
            assert_eq!(
                daily, 1,
                "{id} ({namespace} {metric}) has no daily sum beside it"
            );
        }
    }
    assert!(bursts >= 5, "{bursts} burst alarms");
}

#[test]
fn the_api_logs_each_request_without_body_or_key_and_alarms_on_its_refusal_rate() {
    let api = &template::resource("WebhookApi")["Properties"];
    let setting = &api["AccessLogSetting"];
    let group = match &setting["DestinationArn"] {
        Value::Tagged(t) if t.tag == "GetAtt" => text(&t.value, "DestinationArn")
            .trim_end_matches(".Arn")
            .to_owned(),
        other => panic!("DestinationArn: {other:?}"),
    };
    let group = template::resource(&group);
    assert_eq!(text(&group["Type"], "Type"), "AWS::Logs::LogGroup");
    assert_eq!(
        reference(&group["Properties"]["RetentionInDays"]),
        Some("LogRetentionDays")
    );
    let format: serde_json::Value =
        serde_json::from_str(text(&setting["Format"], "Format")).expect("a JSON access log line");
    let fields = format.as_object().expect("an object");
    for (name, value) in fields {
        let value = value.as_str().expect("a string");
        assert!(value.starts_with("$context."), "{name}: {value}");
        for forbidden in [
            "$input",
            "requestBody",
            "body",
            "header",
            "apiKey",
            "authorizer",
        ] {
            assert!(!value.contains(forbidden), "{name}: {value}");
        }
    }
    for needed in [
        "$context.status",
        "$context.identity.sourceIp",
        "$context.error.responseType",
    ] {
        assert!(
            fields.values().any(|v| v.as_str() == Some(needed)),
            "access log lacks {needed}"
        );
    }
    // The account's CloudWatch role, without which a REST API stage cannot log.
    let account = template::resource("ApiGatewayAccount");
    assert!(matches!(
        account["Properties"]["CloudWatchRoleArn"],
        Value::Tagged(_)
    ));

    let rate = &template::resource("WebhookApi4xxRateAlarm")["Properties"];
    let metrics = list(&rate["Metrics"], "Metrics");
    let names: Vec<&str> = metrics
        .iter()
        .filter_map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str())
        .collect();
    assert_eq!(names, ["4XXError", "Count"]);
    let expression = metrics
        .iter()
        .find(|m| m["ReturnData"].as_bool() == Some(true))
        .and_then(|m| m["Expression"].as_str())
        .expect("the rate expression");
    assert!(expression.contains("refused / requests"), "{expression}");
}

#[test]
fn notifier_failures_are_counted_from_its_log_lines_and_alarmed() {
    let line = format!("\"{}\"", batch::LOG_LINE);
    let failed = filtered_metric(
        "NotifierLogGroup",
        &["$.message", &line, &format!("\"{}\"", batch::FAILED)],
    );
    let skipped = filtered_metric(
        "NotifierLogGroup",
        &["$.message", &line, &format!("\"{}\"", batch::SKIPPED)],
    );
    assert!(!alarms_on("QaplaWebhooks", &failed).is_empty());
    let bus_refused = filtered_metric(
        "NotifierLogGroup",
        &["$.message", &line, &format!("\"{}\"", batch::BUS_REFUSED)],
    );
    let bus_alarms = alarms_on("QaplaWebhooks", &bus_refused);
    assert!(
        bus_alarms
            .iter()
            .any(|(_, _, _, threshold)| *threshold <= 1.0),
        "every bus refusal alarms: {bus_alarms:?}"
    );
    let skipped_alarms = alarms_on("QaplaWebhooks", &skipped);
    assert!(
        skipped_alarms
            .iter()
            .any(|(_, _, _, threshold)| *threshold <= 1.0),
        "every skipped notification alarms: {skipped_alarms:?}"
    );
    let age = alarms_on("AWS/Lambda", "IteratorAge");
    assert_eq!(age.len(), 1, "{age:?}");
    let sns = alarms_on("AWS/SNS", "NumberOfNotificationsFailed");
    assert_eq!(sns.len(), 1, "{sns:?}");
}

#[test]
fn returns_and_orders_expire_and_the_reference_index_holds_no_payload() {
    let index = list(
        &template::resource("Table")["Properties"]["GlobalSecondaryIndexes"],
        "GlobalSecondaryIndexes",
    )
    .iter()
    .find(|i| i["IndexName"].as_str() == Some(items::GSI1))
    .expect("the reference index");
    assert_eq!(
        text(&index["Projection"]["ProjectionType"], "ProjectionType"),
        "INCLUDE"
    );
    let projected: Vec<&str> = list(&index["Projection"]["NonKeyAttributes"], "NonKeyAttributes")
        .iter()
        .map(|a| text(a, "attribute"))
        .collect();
    assert_eq!(projected, items::GSI1_ATTRIBUTES);
    assert!(!projected.contains(&"payload"));
    let days = &template::template()["Parameters"]["ReturnOrderDays"];
    assert_eq!(text(&days["Type"], "Type"), "Number");
    for function in ["ShipmentsFunction", "ReturnsFunction", "OrdersFunction"] {
        let vars = &template::resource(function)["Properties"]["Environment"]["Variables"];
        assert_eq!(
            reference(&vars[qapla::config::QAPLA_RETURN_ORDER_DAYS]),
            Some("ReturnOrderDays"),
            "{function}"
        );
    }
}
