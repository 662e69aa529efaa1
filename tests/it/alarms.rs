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

/// CloudWatch Logs' JSON filter patterns, as far as the template writes them: `{ … }` around
/// comparisons of `$.field` with a quoted text or a number, joined by `&&` (binding tighter) and
/// `||`, grouped by parentheses. Types are strict, as in CloudWatch: `"403"` matches the text
/// only, `403` the number only.
mod pattern {
    use serde_json::Value;

    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        Open,
        Close,
        And,
        Or,
        Field(String),
        Op(&'static str),
        Text(String),
        Number(f64),
    }

    fn tokens(pattern: &str) -> Vec<Token> {
        let inner = pattern
            .trim()
            .strip_prefix('{')
            .and_then(|p| p.strip_suffix('}'))
            .unwrap_or_else(|| panic!("not a JSON filter pattern: {pattern}"));
        let chars: Vec<char> = inner.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let rest: String = chars[i..].iter().take(2).collect();
            match chars[i] {
                c if c.is_whitespace() => i += 1,
                '(' => {
                    out.push(Token::Open);
                    i += 1;
                }
                ')' => {
                    out.push(Token::Close);
                    i += 1;
                }
                _ if rest == "&&" => {
                    out.push(Token::And);
                    i += 2;
                }
                _ if rest == "||" => {
                    out.push(Token::Or);
                    i += 2;
                }
                _ if [">=", "<=", "!="].contains(&rest.as_str()) => {
                    out.push(Token::Op(match rest.as_str() {
                        ">=" => ">=",
                        "<=" => "<=",
                        _ => "!=",
                    }));
                    i += 2;
                }
                '=' | '>' | '<' => {
                    out.push(Token::Op(match chars[i] {
                        '=' => "=",
                        '>' => ">",
                        _ => "<",
                    }));
                    i += 1;
                }
                '"' => {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|&c| c == '"')
                        .unwrap_or_else(|| panic!("unclosed text in {pattern}"));
                    out.push(Token::Text(chars[i + 1..i + 1 + end].iter().collect()));
                    i += end + 2;
                }
                '$' => {
                    let end = chars[i..]
                        .iter()
                        .position(|&c| !(c.is_alphanumeric() || "$._".contains(c)))
                        .unwrap_or(chars.len() - i);
                    let path: String = chars[i..i + end].iter().collect();
                    let field = path
                        .strip_prefix("$.")
                        .unwrap_or_else(|| panic!("{path} in {pattern}"));
                    out.push(Token::Field(field.to_owned()));
                    i += end;
                }
                c if c.is_ascii_digit() || c == '-' => {
                    let end = chars[i..]
                        .iter()
                        .position(|&c| !(c.is_ascii_digit() || c == '.' || c == '-'))
                        .unwrap_or(chars.len() - i);
                    let number: String = chars[i..i + end].iter().collect();
                    out.push(Token::Number(number.parse().expect("a number")));
                    i += end;
                }
                other => panic!("{other:?} in {pattern}: not a form the template uses"),
            }
        }
        out
    }

    struct Parser<'a> {
        tokens: Vec<Token>,
        at: usize,
        line: &'a Value,
    }

    impl Parser<'_> {
        fn next(&mut self) -> Option<Token> {
            let t = self.tokens.get(self.at).cloned();
            self.at += 1;
            t
        }

        fn peek(&self) -> Option<&Token> {
            self.tokens.get(self.at)
        }

        fn or(&mut self) -> bool {
            let mut value = self.and();
            while self.peek() == Some(&Token::Or) {
                self.at += 1;
                value |= self.and();
            }
            value
        }

        fn and(&mut self) -> bool {
            let mut value = self.term();
            while self.peek() == Some(&Token::And) {
                self.at += 1;
                value &= self.term();
            }
            value
        }

        fn term(&mut self) -> bool {
            match self.next() {
                Some(Token::Open) => {
                    let value = self.or();
                    assert_eq!(self.next(), Some(Token::Close), "unbalanced parentheses");
                    value
                }
                Some(Token::Field(field)) => {
                    let Some(Token::Op(op)) = self.next() else {
                        panic!("no operator after $.{field}");
                    };
                    let found = self.line.get(&field);
                    match self.next() {
                        Some(Token::Text(text)) => {
                            let equal = found.and_then(Value::as_str) == Some(text.as_str());
                            match op {
                                "=" => equal,
                                "!=" => found.is_some() && !equal,
                                _ => panic!("{op} on a text"),
                            }
                        }
                        Some(Token::Number(n)) => {
                            let Some(v) = found
                                .and_then(Value::as_f64)
                                .filter(|_| found.is_some_and(Value::is_number))
                            else {
                                return false;
                            };
                            match op {
                                "=" => v == n,
                                "!=" => v != n,
                                ">" => v > n,
                                ">=" => v >= n,
                                "<" => v < n,
                                _ => v <= n,
                            }
                        }
                        other => panic!("{other:?} after $.{field} {op}"),
                    }
                }
                other => panic!("{other:?} where a comparison starts"),
            }
        }
    }

    /// Whether CloudWatch would count `line` under `pattern`.
    pub fn matches(pattern: &str, line: &Value) -> bool {
        let mut parser = Parser {
            tokens: tokens(pattern),
            at: 0,
            line,
        };
        let value = parser.or();
        assert_eq!(
            parser.at,
            parser.tokens.len(),
            "trailing tokens in {pattern}"
        );
        value
    }
}

#[test]
fn the_filter_patterns_are_read_as_cloudwatch_reads_them() {
    let line = serde_json::json!({"message": "recover", "outcome": "failed", "status": "403",
        "code": 503, "changes": 2});
    let cases = [
        (r#"{ $.status = "403" }"#, true),
        ("{ $.status = 403 }", false),
        ("{ $.code >= 500 }", true),
        ("{ $.code = 500 }", false),
        (r#"{ $.code = "503" }"#, false),
        (r#"{ $.message = "recover" && $.changes > 0 }"#, true),
        (r#"{ $.message = "recover" && $.changes > 2 }"#, false),
        (
            r#"{ ($.outcome = "done") || ($.outcome = "failed") }"#,
            true,
        ),
        (
            r#"{ ($.outcome = "done") || ($.outcome = "skipped") }"#,
            false,
        ),
        (
            r#"{ $.outcome = "x" || $.message = "recover" && $.code = 503 }"#,
            true,
        ),
        (
            r#"{ ($.outcome = "x" || $.message = "recover") && $.code = 1 }"#,
            false,
        ),
        (r#"{ $.missing = "recover" }"#, false),
        (r#"{ $.outcome != "done" }"#, true),
    ];
    for (p, want) in cases {
        assert_eq!(pattern::matches(p, &line), want, "{p}");
    }
}

/// The metrics `line` feeds through the filters of `group`: (metric, dimensions as the line
/// gives them).
pub(crate) fn metrics_of(
    group: &str,
    line: &serde_json::Value,
) -> Vec<(String, Vec<(String, String)>)> {
    of_type("AWS::Logs::MetricFilter")
        .into_iter()
        .filter(|(_, f)| reference(&f["Properties"]["LogGroupName"]) == Some(group))
        .filter(|(_, f)| {
            pattern::matches(
                text(&f["Properties"]["FilterPattern"], "FilterPattern"),
                line,
            )
        })
        .flat_map(|(_, f)| {
            list(&f["Properties"]["MetricTransformations"], "transformations").to_vec()
        })
        .map(|t| {
            let dimensions = t["Dimensions"]
                .as_sequence()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    let key = text(&d["Key"], "Key").to_owned();
                    let field = text(&d["Value"], "Value");
                    let field = field.strip_prefix("$.").expect("a field of the line");
                    let value = line[field].as_str().unwrap_or_default().to_owned();
                    (key, value)
                })
                .collect();
            (text(&t["MetricName"], "MetricName").to_owned(), dimensions)
        })
        .collect()
}

/// The alarm on a metric with these dimensions (`Dimensions` of `Name`/`Value`, none if empty).
fn alarm_on(metric: &str, dimensions: &[(String, String)]) -> (&'static str, &'static Value) {
    let found: Vec<_> = of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            let p = &a["Properties"];
            let dims: Vec<(String, String)> = p["Dimensions"]
                .as_sequence()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    (
                        text(&d["Name"], "Name").to_owned(),
                        text(&d["Value"], "Value").to_owned(),
                    )
                })
                .collect();
            p["Namespace"].as_str() == Some("QaplaWebhooks")
                && p["MetricName"].as_str() == Some(metric)
                && dims == dimensions
        })
        .collect();
    assert_eq!(found.len(), 1, "one alarm on {metric} {dimensions:?}");
    found[0]
}

/// An alarm that fires on a single count within `within` seconds.
fn fires_on_one(alarm: &Value, within: u64) {
    let p = &alarm["Properties"];
    assert_eq!(text(&p["Statistic"], "Statistic"), "Sum");
    assert!(p["Period"].as_u64().is_some_and(|s| s <= within), "{p:?}");
    assert_eq!(p["Threshold"].as_f64(), Some(1.0));
    assert_eq!(
        text(&p["ComparisonOperator"], "ComparisonOperator"),
        "GreaterThanOrEqualToThreshold"
    );
    assert_eq!(p["EvaluationPeriods"].as_u64(), Some(1));
    assert_eq!(
        text(&p["TreatMissingData"], "TreatMissingData"),
        "notBreaching"
    );
}

/// The filters an alarm's metric comes from (those of `group` only, if given) exist before it
/// (DependsOn).
fn depends_on_its_filters(id: &str, alarm: &Value, metric: &str, group: Option<&str>) {
    let filters: Vec<&str> = of_type("AWS::Logs::MetricFilter")
        .into_iter()
        .filter(|(_, f)| {
            group.is_none_or(|g| reference(&f["Properties"]["LogGroupName"]) == Some(g))
        })
        .filter(|(_, f)| {
            list(&f["Properties"]["MetricTransformations"], "transformations")
                .iter()
                .any(|t| t["MetricName"].as_str() == Some(metric))
        })
        .map(|(fid, _)| fid)
        .collect();
    let depends: Vec<&str> = match &alarm["DependsOn"] {
        Value::String(one) => vec![one.as_str()],
        Value::Sequence(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for f in &filters {
        assert!(depends.contains(f), "{id} does not depend on {f}");
    }
    assert!(!filters.is_empty(), "no filter feeds {metric}");
}

/// An access log line as API Gateway writes it with the template's format, for a request it
/// answered with `status` (`errorType` the gateway response, empty when the function answered).
fn access_line(status: &str, error_type: &str) -> serde_json::Value {
    let setting = &template::resource("WebhookApi")["Properties"]["AccessLogSetting"];
    let format: serde_json::Value =
        serde_json::from_str(text(&setting["Format"], "Format")).expect("a JSON format");
    let line: serde_json::Map<String, serde_json::Value> = format
        .as_object()
        .expect("an object")
        .iter()
        .map(|(name, variable)| {
            let value = match variable.as_str().unwrap_or_default() {
                "$context.status" => status,
                "$context.error.responseType" => error_type,
                "$context.identity.sourceIp" => "203.0.113.9",
                "$context.httpMethod" => "POST",
                "$context.resourcePath" => "/webhooks/shipments",
                _ => "-",
            };
            (name.clone(), serde_json::Value::from(value))
        })
        .collect();
    serde_json::Value::Object(line)
}

/// The lines the code logged while `f` ran, as JSON.
async fn logged<F: std::future::Future<Output = ()>>(f: F) -> Vec<serde_json::Value> {
    let logs = crate::faults::capture_logs();
    f.await;
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect()
}

const WEBHOOK_GROUPS: [(qapla::Kind, &str); 3] = [
    (qapla::Kind::Shipment, "ShipmentsLogGroup"),
    (qapla::Kind::Return, "ReturnsLogGroup"),
    (qapla::Kind::Order, "OrdersLogGroup"),
];

/// A valid delivery of each webhook, with the demo channel's key.
fn good_body(kind: qapla::Kind) -> String {
    let fixture = match kind {
        qapla::Kind::Shipment => &qapla::fixtures::SHIPMENT_IN_TRANSIT,
        qapla::Kind::Return => &qapla::fixtures::RETURNS_FLAT,
        qapla::Kind::Order => &qapla::fixtures::ORDERS,
    };
    fixture.json().to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn a_single_403_alarms_whether_the_resource_policy_or_the_function_refused_it() {
    use crate::events::{event, QAPLA_IP};
    // The resource policy's refusal and a path that does not exist: the access log only.
    for error_type in ["ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN", ""] {
        let metrics = metrics_of("ApiAccessLogGroup", &access_line("403", error_type));
        assert_eq!(
            metrics,
            [("ForbiddenRequests".to_owned(), vec![])],
            "{error_type}"
        );
    }
    for status in ["200", "401", "400", "503"] {
        assert!(
            metrics_of("ApiAccessLogGroup", &access_line(status, "")).is_empty(),
            "{status}"
        );
    }
    // The function's own check, as its real handler logs it.
    let endpoint = crate::local_aws::LocalEndpoints::shared();
    for (kind, group) in WEBHOOK_GROUPS {
        let hook = crate::delivery::webhook(kind, &endpoint, "unused").await;
        for (source, outcome) in [
            ("203.0.113.9", "rejected:foreign_sender"),
            ("not-an-ip", "rejected:no_source"),
        ] {
            let lines = logged(async {
                let got =
                    crate::delivery::invoke(&hook, &event(kind, &good_body(kind), source)).await;
                assert_eq!((got.status, got.outcome.as_str()), (403, outcome));
            })
            .await;
            let delivery: Vec<_> = lines
                .iter()
                .filter(|l| l["message"] == "delivery")
                .collect();
            assert_eq!(delivery.len(), 1, "{lines:?}");
            assert_eq!(
                metrics_of(group, delivery[0]),
                [("ForbiddenRequests".to_owned(), vec![])],
                "{group} {outcome}"
            );
        }
        // A stranger with Qapla's address but no known key is another alarm's.
        let lines = logged(async {
            let body = good_body(kind).replace(qapla::fixtures::DEMO_KEY, "not-a-key");
            let got = crate::delivery::invoke(&hook, &event(kind, &body, QAPLA_IP)).await;
            assert_eq!(got.status, 401);
        })
        .await;
        let delivery = lines
            .iter()
            .find(|l| l["message"] == "delivery")
            .expect("line");
        let metrics: Vec<String> = metrics_of(group, delivery)
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(metrics, ["UnknownKeyRefusals"], "{group}");
    }
    let (id, alarm) = alarm_on("ForbiddenRequests", &[]);
    fires_on_one(alarm, 300);
    depends_on_its_filters(id, alarm, "ForbiddenRequests", None);
}

#[test]
fn a_single_429_of_the_stage_throttle_alarms() {
    // API Gateway's throttle answers before any function: the access log is the one witness.
    assert_eq!(
        metrics_of("ApiAccessLogGroup", &access_line("429", "THROTTLED")),
        [("ThrottledRequests".to_owned(), vec![])]
    );
    let settings = list(
        &template::resource("WebhookApi")["Properties"]["MethodSettings"],
        "MethodSettings",
    );
    assert_eq!(
        reference(&settings[0]["ThrottlingRateLimit"]),
        Some("ThrottleRateLimit")
    );
    assert_eq!(
        reference(&settings[0]["ThrottlingBurstLimit"]),
        Some("ThrottleBurstLimit")
    );
    let (id, alarm) = alarm_on("ThrottledRequests", &[]);
    fires_on_one(alarm, 300);
    depends_on_its_filters(id, alarm, "ThrottledRequests", None);
}

#[tokio::test(flavor = "current_thread")]
async fn each_webhook_has_a_heartbeat_that_a_silence_of_silence_hours_breaks() {
    use crate::events::{event, QAPLA_IP};
    let endpoint = crate::local_aws::LocalEndpoints::shared();
    let client = crate::stack::dynamo(&endpoint).await;
    let table = crate::stack::unique_table("heartbeat");
    crate::stack::create_table(&client, &table).await;
    let silence = &template::template()["Parameters"]["SilenceHours"];
    assert_eq!(text(&silence["Type"], "Type"), "Number");
    assert_eq!(silence["Default"].as_u64(), Some(24));
    assert!(silence["MinValue"].as_u64().is_some_and(|m| m >= 1));
    for (kind, group) in WEBHOOK_GROUPS {
        let hook = crate::delivery::webhook(kind, &endpoint, &table).await;
        let lines = logged(async {
            let got =
                crate::delivery::invoke(&hook, &event(kind, &good_body(kind), QAPLA_IP)).await;
            assert_eq!(got.status, 200, "{got:?}");
        })
        .await;
        let delivery = lines
            .iter()
            .find(|l| l["message"] == "delivery")
            .expect("line");
        let metrics = metrics_of(group, delivery);
        let dimensions = vec![("Webhook".to_owned(), kind.as_str().to_owned())];
        assert_eq!(
            metrics,
            [("Deliveries".to_owned(), dimensions.clone())],
            "{group}"
        );
        // A refused delivery is no sign of life.
        let lines = logged(async {
            let body = good_body(kind).replace(qapla::fixtures::DEMO_KEY, "not-a-key");
            invoke_only(&hook, &event(kind, &body, QAPLA_IP)).await;
        })
        .await;
        let refused = lines
            .iter()
            .find(|l| l["message"] == "delivery")
            .expect("line");
        assert!(
            !metrics_of(group, refused)
                .iter()
                .any(|(m, _)| m == "Deliveries"),
            "{group}"
        );

        let (id, alarm) = alarm_on("Deliveries", &dimensions);
        depends_on_its_filters(id, alarm, "Deliveries", Some(group));
        let p = &alarm["Properties"];
        assert_eq!(text(&p["Statistic"], "Statistic"), "Sum");
        assert_eq!(
            text(&p["ComparisonOperator"], "ComparisonOperator"),
            "LessThanThreshold"
        );
        assert_eq!(p["Threshold"].as_f64(), Some(1.0));
        // Metric filters write nothing while no line matches: silence is missing data.
        assert_eq!(
            text(&p["TreatMissingData"], "TreatMissingData"),
            "breaching"
        );
        let period = p["Period"].as_u64().expect("Period");
        assert_eq!(
            period, 3600,
            "{id}: hours of silence count in hourly periods"
        );
        assert_eq!(
            reference(&p["EvaluationPeriods"]),
            Some("SilenceHours"),
            "{id}"
        );
        assert_eq!(
            reference(&p["DatapointsToAlarm"]),
            Some("SilenceHours"),
            "{id}"
        );
        // CloudWatch refuses an alarm whose periods span more than 7 days.
        let most = silence["MaxValue"].as_u64().expect("MaxValue");
        assert!(most * period <= 7 * 86_400, "{most} hours");
    }
}

async fn invoke_only(hook: &crate::delivery::Hook, event: &str) {
    let got = crate::delivery::invoke(hook, event).await;
    assert!(got.status >= 400, "{got:?}");
}

/// A notice an earlier attempt claimed on the topic and never confirmed is not sent again (email
/// and SMS at most once), so it may never have gone out: the notifier's and the stuck check's
/// lines for it are counted and one of them alarms.
#[tokio::test(flavor = "current_thread")]
async fn a_notice_left_unconfirmed_is_counted_and_alarmed() {
    use qapla::notify::bus::{FanOut, MemoryBus};
    use qapla::notify::once::{MemoryClaims, Target};
    use qapla::notify::{AlertRule, MemoryPublisher, Notifier};
    use qapla_aws::stream::{record, StreamNotifier};
    let notifier = || Notifier {
        alerts: AlertRule::default(),
        timezone: qapla::dates::zone("Europe/Rome").expect("zone"),
        personal_data: false,
    };
    let unconfirmed = |lines: &[serde_json::Value], message: &str| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["message"] == message && l["outcome"] == batch::UNCONFIRMED)
            .cloned()
            .collect()
    };

    // The notifier, over a real stream record whose topic claim a dead attempt left unfinished.
    let mut rig = crate::notifier_rig::Rig::new().await;
    let kind = qapla::Kind::Shipment;
    assert_eq!(rig.deliver(kind, &good_body(kind)).await, "stored");
    let event = rig.stream_event().await;
    let claims = MemoryClaims::new();
    for r in &event.records {
        if let Ok(Some(n)) = batch::notice(&notifier(), &record(r)) {
            claims.leave_unfinished(&n.id, Target::Topic);
        }
    }
    let stream = StreamNotifier {
        notifier: notifier(),
        publisher: FanOut {
            publisher: MemoryPublisher::new(),
            bus: None::<MemoryBus>,
            claims,
        },
    };
    let lines = logged(async {
        assert!(stream.handle(&event).await.batch_item_failures.is_empty());
    })
    .await;
    assert!(stream.publisher.publisher.published().is_empty());
    let found = unconfirmed(&lines, batch::LOG_LINE);
    assert_eq!(found.len(), 1, "{lines:?}");
    assert_eq!(
        metrics_of("NotifierLogGroup", &found[0]),
        [("NotificationsUnconfirmed".to_owned(), vec![])]
    );

    // The stuck check, over the same claims: a shipment held in stock, whose alert's topic
    // claim a dead attempt left unfinished.
    let stocked = || async {
        let hook = qapla::webhook::Webhook::new(
            kind,
            qapla::fixtures::demo_config("t").settings,
            qapla::store::MemoryStore::new(),
            qapla::store::MemoryArchive::default(),
        );
        let body =
            qapla::fixtures::shipment_at("STOCK", "2026-03-01 10:00:00", 6, Some(1)).to_string();
        let answer = hook
            .handle(qapla::webhook::Request {
                method: "POST",
                source: Some(crate::events::QAPLA_IP.parse().expect("address")),
                body: body.as_bytes(),
            })
            .await;
        assert_eq!(answer.status, 200, "{}", answer.outcome);
        hook.store
    };
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let channels = vec!["shop-it".to_owned()];
    let stuck_notifier = notifier();
    let check = qapla::stuck::StuckCheck {
        rule: qapla::stuck::rule::StuckRule::default(),
        notifier: &stuck_notifier,
        channels: &channels,
    };
    let fan_out = || FanOut {
        publisher: MemoryPublisher::new(),
        bus: None::<MemoryBus>,
        claims: MemoryClaims::new(),
    };
    // A first run on a store of its own tells the alert's id.
    let (store, first) = (stocked().await, fan_out());
    let sent = check.run(&store, &store, &first, now, None).await;
    assert_eq!(sent.alerted, 1, "{sent:?}");
    let (store, again) = (stocked().await, fan_out());
    again
        .claims
        .leave_unfinished(&first.publisher.published()[0].id, Target::Topic);
    let lines = logged(async {
        let summary = check.run(&store, &store, &again, now, None).await;
        assert_eq!(
            (summary.unconfirmed, summary.alerted),
            (1, 0),
            "{summary:?}"
        );
    })
    .await;
    assert!(again.publisher.published().is_empty());
    let found = unconfirmed(&lines, qapla::stuck::ALERT_LINE);
    assert_eq!(found.len(), 1, "{lines:?}");
    assert_eq!(
        metrics_of("StuckLogGroup", &found[0]),
        [("NotificationsUnconfirmed".to_owned(), vec![])]
    );

    let (id, alarm) = alarm_on("NotificationsUnconfirmed", &[]);
    fires_on_one(alarm, 300);
    depends_on_its_filters(id, alarm, "NotificationsUnconfirmed", None);
}

#[test]
fn the_reconcilers_own_errors_and_timeouts_alarm() {
    let alarms = alarms_on("AWS/Lambda", "Errors");
    let reconciler: Vec<_> = alarms
        .iter()
        .filter(|(id, ..)| {
            let dims = list(
                &template::resource(id)["Properties"]["Dimensions"],
                "Dimensions",
            );
            dims.iter().any(|d| {
                d["Name"].as_str() == Some("FunctionName")
                    && reference(&d["Value"]) == Some("ReconcilerFunction")
            })
        })
        .collect();
    assert_eq!(reconciler.len(), 1, "{alarms:?}");
    let (id, stat, _, threshold) = reconciler[0];
    assert_eq!((stat.as_str(), *threshold), ("Sum", 1.0));
    let description = text(
        &template::resource(id)["Properties"]["AlarmDescription"],
        "AlarmDescription",
    );
    assert!(description.contains("timed out"), "{description}");
}

#[test]
fn channels_cut_by_the_deadline_and_entries_left_out_are_logged_counted_and_alarmed() {
    use qapla::auth::{ApiKey, Channel, Channels, OrderTrigger};
    use qapla::recover::memory::{scripted_shipment, ManualClock, MemoryQapla, Step};
    use qapla::recover::{ChannelOutcome, Clock, Invocation, Reconciler, RecoverySettings};
    use std::sync::Arc;
    use std::time::Duration;

    let start = chrono::Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    let ticks = Arc::clone(&clock);
    let qapla = MemoryQapla::new(Arc::new(move || ticks.elapsed()));
    let store = qapla::store::MemoryStore::new();
    let mut settings =
        RecoverySettings::new(qapla::dates::zone("Europe/Rome").expect("zone"), 400, 3);
    settings.stop_margin = Duration::from_secs(1);
    let local = |minutes_ago: i64| {
        qapla::recover::plan::qapla_time(
            start - chrono::Duration::minutes(minutes_ago),
            qapla::dates::zone("Europe/Rome").expect("zone"),
        )
    };
    // A busy channel: more shipments to fetch than a minute of Qapla's rate allows.
    for n in 0..400u64 {
        let steps = [Step::new(3, None, local(1 + n as i64 % 170))];
        qapla.put_shipment(
            "key-busy",
            scripted_shipment(n, "DHL", &format!("B{n}"), "R", &steps, &[]),
        );
    }
    // A channel with a shipment whose history holds an entry that cannot be read, next to the
    // recipient's name (which must not reach the log).
    let mut odd = scripted_shipment(
        1,
        "DHL",
        "ODD1",
        "R",
        &[Step::new(3, None, local(30)), Step::new(4, None, local(20))],
        &[],
    );
    odd["trackingHistory"][1]["qaplaStatus"] = serde_json::json!({"id": "Mario Rossi"});
    odd["consignee"] = serde_json::json!({"name": "Mario Rossi", "address": "Via Roma 1"});
    qapla.put_shipment("key-odd", odd);
    let entry =
        |name: &str, key: &str| Channel::entry(name, &ApiKey::new(key), OrderTrigger::Created);
    let spec = [entry("busy", "key-busy"), entry("odd", "key-odd")].join(",");
    let parsed = Channels::parse(&spec).expect("channels");
    let channels: Vec<(Channel, Option<ApiKey>)> = [("busy", "key-busy"), ("odd", "key-odd")]
        .into_iter()
        .map(|(n, k)| {
            (
                parsed.get(n).expect("channel").clone(),
                Some(ApiKey::new(k)),
            )
        })
        .collect();
    let reconciler = Reconciler {
        api: &qapla,
        store: &store,
        clock: clock.as_ref(),
        settings: &settings,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let lines = runtime.block_on(logged(async {
        let got = reconciler
            .run(&channels, Invocation::Scheduled, Duration::from_secs(60))
            .await;
        let outcomes: Vec<ChannelOutcome> = got.channels.iter().map(|c| c.outcome).collect();
        assert_eq!(
            outcomes,
            [ChannelOutcome::Deadline, ChannelOutcome::Done],
            "{got:?}"
        );
        assert_eq!(got.channels[1].unreadable, 1, "{got:?}");
    }));
    let all = serde_json::to_string(&lines).expect("json");
    for secret in ["key-busy", "key-odd", "Rossi", "Via Roma"] {
        assert!(!all.contains(secret), "{secret} in the log: {all}");
    }

    let line = |message: &str, channel: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message && l["channel"] == channel)
            .unwrap_or_else(|| panic!("no {message} line of {channel}: {all}"))
    };
    let cut = line(qapla::recover::LOG_LINE, "busy");
    assert_eq!(cut["outcome"], ChannelOutcome::Deadline.as_str());
    let names = |line: &serde_json::Value| -> Vec<String> {
        metrics_of("ReconcilerLogGroup", line)
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    };
    // The summary line also gives what the run recovered.
    assert_eq!(
        names(cut),
        ["RecoveredChanges", "RecoverDeadlines"],
        "{cut}"
    );
    let done = line(qapla::recover::LOG_LINE, "odd");
    assert_eq!(names(done), ["RecoveredChanges"], "{done}");
    let run = lines
        .iter()
        .find(|l| l["message"] == qapla::recover::RUN_LINE)
        .expect("the run's line");
    assert_eq!(run["deadline_channels"], "busy", "{run}");
    assert!(metrics_of("ReconcilerLogGroup", run).is_empty(), "{run}");

    let unread = line(qapla::recover::UNREADABLE_LINE, "odd");
    assert_eq!(unread["outcome"], qapla::recover::UNREADABLE);
    assert_eq!(unread["entry"], "trackingHistory[1]", "{unread}");
    assert_eq!(unread["tracking_number"], "ODD1", "{unread}");
    assert!(
        unread["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{unread}"
    );
    assert_eq!(
        metrics_of("ReconcilerLogGroup", unread),
        [("RecoverUnreadable".to_owned(), vec![])]
    );

    let (id, alarm) = alarm_on("RecoverUnreadable", &[]);
    fires_on_one(alarm, 3600);
    depends_on_its_filters(id, alarm, "RecoverUnreadable", None);
    // One run cut is a catch-up under way; cut in every hour for three, it is not catching up.
    let (id, alarm) = alarm_on("RecoverDeadlines", &[]);
    depends_on_its_filters(id, alarm, "RecoverDeadlines", None);
    let p = &alarm["Properties"];
    assert_eq!(p["Threshold"].as_f64(), Some(1.0));
    let evaluations = p["EvaluationPeriods"].as_u64().expect("EvaluationPeriods");
    assert!(evaluations > 1);
    assert_eq!(p["DatapointsToAlarm"].as_u64(), Some(evaluations));
}

/// The quarantine, a delivery sent to another webhook's URL and the inbox are counted from the
/// lines the code really logs, and each has its alarm.
#[tokio::test(flavor = "current_thread")]
async fn quarantined_misrouted_and_waiting_deliveries_are_counted_and_alarmed() {
    use crate::events::{event, QAPLA_IP};
    let endpoint = crate::local_aws::LocalEndpoints::shared();
    let table = crate::stack::unique_table("keptalarms");
    crate::stack::create_table(&crate::stack::dynamo(&endpoint).await, &table).await;
    crate::archive::create_bucket(&endpoint, &table).await;
    for (kind, group) in WEBHOOK_GROUPS {
        let hook = crate::archive::webhook(kind, &endpoint, &table, &table).await;
        // Content that does not validate: a zero date in each kind's shape.
        let mut bad: serde_json::Value = serde_json::from_str(&good_body(kind)).expect("json");
        match kind {
            qapla::Kind::Shipment => bad["date"] = "0000-00-00 00:00:00".into(),
            qapla::Kind::Return => bad["returnShipments"][0]["date"] = "0000-00-00".into(),
            qapla::Kind::Order => bad["orders"][0]["orderDate"] = "0000-00-00".into(),
        }
        let lines = logged(async {
            let got =
                crate::delivery::invoke(&hook, &event(kind, &bad.to_string(), QAPLA_IP)).await;
            assert_eq!(
                (got.status, got.outcome.as_str()),
                (200, "quarantined:invalid"),
                "{kind}"
            );
        })
        .await;
        let line = lines
            .iter()
            .find(|l| l["message"] == "delivery")
            .expect("line");
        let metrics: Vec<String> = metrics_of(group, line)
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert!(
            metrics.contains(&"WebhookQuarantined".to_owned()),
            "{group}: {metrics:?}"
        );
        // Another webhook's body at this URL: recorded, and counted as misrouted here.
        let other = match kind {
            qapla::Kind::Shipment => qapla::Kind::Order,
            _ => qapla::Kind::Shipment,
        };
        let lines = logged(async {
            let got =
                crate::delivery::invoke(&hook, &event(kind, &good_body(other), QAPLA_IP)).await;
            assert_eq!(got.status, 200, "{kind}");
        })
        .await;
        let line = lines
            .iter()
            .find(|l| l["message"] == "delivery")
            .expect("line");
        assert_eq!(line["misrouted"], serde_json::json!(other.as_str()));
        let name = match kind {
            qapla::Kind::Shipment => "ShipmentsMisrouted",
            qapla::Kind::Return => "ReturnsMisrouted",
            qapla::Kind::Order => "OrdersMisrouted",
        };
        let metrics: Vec<String> = metrics_of(group, line)
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert!(metrics.contains(&name.to_owned()), "{group}: {metrics:?}");
        let (id, alarm) = alarm_on(name, &[]);
        depends_on_its_filters(id, alarm, name, Some(group));
        assert!(
            text(&alarm["Properties"]["AlarmDescription"], "description").contains(kind.as_str())
        );
        // A delivery of its own kind is not misrouted.
        let lines = logged(async {
            crate::delivery::invoke(&hook, &event(kind, &good_body(kind), QAPLA_IP)).await;
        })
        .await;
        let line = lines
            .iter()
            .find(|l| l["message"] == "delivery")
            .expect("line");
        assert!(metrics_of(group, line)
            .iter()
            .all(|(m, _)| m != name && m != "WebhookQuarantined"));
    }
    let (id, alarm) = alarm_on("WebhookQuarantined", &[]);
    depends_on_its_filters(id, alarm, "WebhookQuarantined", None);

    // The drain's line carries the oldest wait in minutes, which the inbox alarm compares with
    // InboxAlarmMinutes.
    let hook = crate::archive::webhook(qapla::Kind::Shipment, &endpoint, &table, &table).await;
    let lines = logged(async {
        qapla::webhook::drain::run(&hook, chrono::Utc::now(), None).await;
    })
    .await;
    let line = lines
        .iter()
        .find(|l| l["message"] == qapla::webhook::drain::LOG_LINE)
        .expect("line");
    assert!(line["oldest_minutes"].is_number(), "{line}");
    assert_eq!(
        metrics_of("DrainLogGroup", line)
            .into_iter()
            .map(|(m, _)| m)
            .collect::<Vec<_>>(),
        ["InboxOldestMinutes"]
    );
    // What the drain puts in the quarantine counts where the quarantine alarm counts.
    let given_up = serde_json::json!({"message": qapla::webhook::drain::LOG_LINE,
        "quarantined": 3, "oldest_minutes": 0});
    assert_eq!(
        metrics_of("DrainLogGroup", &given_up)
            .into_iter()
            .map(|(m, _)| m)
            .collect::<Vec<_>>(),
        ["WebhookQuarantined", "InboxOldestMinutes"]
    );
    let filter = &template::resource("DrainQuarantineMetricFilter")["Properties"];
    assert_eq!(
        filter["MetricTransformations"][0]["MetricValue"].as_str(),
        Some("$.quarantined"),
        "each object counted"
    );
    let p = &template::resource("InboxAgeAlarm")["Properties"];
    assert_eq!(reference(&p["Threshold"]), Some("InboxAlarmMinutes"));
    assert_eq!(text(&p["Statistic"], "Statistic"), "Maximum");
    let minutes = &template::template()["Parameters"]["InboxAlarmMinutes"];
    assert_eq!(minutes["Default"].as_u64(), Some(15));
    let drain = &template::resource("DrainErrorsAlarm")["Properties"];
    assert_eq!(text(&drain["MetricName"], "MetricName"), "Errors");
}

/// The dashboard's body with each `${…}` of its `!Sub` kept as its name, and those names.
fn dashboard() -> (serde_json::Value, Vec<String>) {
    let body = match &template::resource("Dashboard")["Properties"]["DashboardBody"] {
        Value::Tagged(t) if t.tag == "Sub" => text(&t.value, "DashboardBody").to_owned(),
        other => panic!("DashboardBody: {other:?}"),
    };
    let mut names = Vec::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("closed");
        names.push(rest[start + 2..end].to_owned());
        rest = &rest[end..];
    }
    (
        serde_json::from_str(&body).expect("the dashboard body is JSON"),
        names,
    )
}

/// The metric and dimension keys of a dashboard's `SEARCH('{QaplaWebhooks,K1,K2}
/// MetricName="M"', …)`: only our namespace may be searched.
fn searched(expression: &str) -> (String, Vec<String>) {
    let schema = expression
        .split_once("SEARCH('{")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(schema, _)| schema)
        .unwrap_or_else(|| panic!("not a search of a schema: {expression}"));
    let mut parts = schema.split(',').map(str::trim);
    assert_eq!(parts.next(), Some("QaplaWebhooks"), "{expression}");
    let keys = parts.map(str::to_owned).collect();
    let metric = expression
        .split_once("MetricName=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(m, _)| m.to_owned())
        .unwrap_or_else(|| panic!("no MetricName in {expression}"));
    (metric, keys)
}

#[test]
fn a_dashboard_search_is_read_for_its_metric_and_keys() {
    assert_eq!(
        searched(
            r#"SEARCH('{QaplaWebhooks,Channel,Webhook} MetricName="HoursSilent"', 'Maximum', 3600)"#
        ),
        (
            "HoursSilent".to_owned(),
            vec!["Channel".to_owned(), "Webhook".to_owned()]
        )
    );
}

/// Every metric the dashboard draws is one the stack's metric filters write (with the same
/// dimensions) or one an AWS service of the stack emits for its resources; every alarm the
/// template always creates is on it; its URL is an output.
#[test]
fn the_dashboard_draws_only_metrics_that_exist_and_every_alarm() {
    use serde_json::Value as J;
    use std::collections::BTreeSet;
    let (body, names) = dashboard();
    let api_name = match &template::resource("WebhookApi")["Properties"]["Name"] {
        Value::Tagged(t) => text(&t.value, "Name").to_owned(),
        other => text(other, "Name").to_owned(),
    };
    // (namespace, metric, dimension, the value it must have): what AWS emits for our resources.
    let aws = [
        ("AWS/ApiGateway", "Latency", "ApiName", api_name.as_str()),
        (
            "AWS/SNS",
            "NumberOfMessagesPublished",
            "TopicName",
            "${Topic.TopicName}",
        ),
        (
            "AWS/SNS",
            "NumberOfNotificationsFailed",
            "TopicName",
            "${Topic.TopicName}",
        ),
    ];
    let filtered: Vec<(String, Vec<String>)> = of_type("AWS::Logs::MetricFilter")
        .into_iter()
        .flat_map(|(_, f)| list(&f["Properties"]["MetricTransformations"], "t").to_vec())
        .map(|t| {
            let keys = t["Dimensions"]
                .as_sequence()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|d| text(&d["Key"], "Key").to_owned())
                .collect();
            (text(&t["MetricName"], "MetricName").to_owned(), keys)
        })
        .collect();
    let widgets = body["widgets"].as_array().expect("widgets");
    let mut drawn = BTreeSet::new();
    for widget in widgets {
        let p = &widget["properties"];
        match widget["type"].as_str() {
            Some("metric") => {
                for m in p["metrics"].as_array().expect("metrics") {
                    // A search draws every metric of its name and dimension keys: a metric
                    // filter must write that metric with exactly those keys.
                    if let Some(search) = m[0]["expression"].as_str() {
                        let (metric, keys) = searched(search);
                        assert!(
                            filtered.contains(&(metric.clone(), keys.clone())),
                            "no metric filter writes {metric} {keys:?}"
                        );
                        drawn.insert(metric);
                        continue;
                    }
                    let parts: Vec<&str> = m
                        .as_array()
                        .expect("a metric")
                        .iter()
                        .filter_map(J::as_str)
                        .collect();
                    let (namespace, metric) = (parts[0], parts[1]);
                    let dims: Vec<(&str, &str)> =
                        parts[2..].chunks(2).map(|d| (d[0], d[1])).collect();
                    drawn.insert(metric.to_owned());
                    if namespace == "QaplaWebhooks" {
                        let keys: Vec<String> = dims.iter().map(|(k, _)| (*k).to_owned()).collect();
                        assert!(
                            filtered.contains(&(metric.to_owned(), keys.clone())),
                            "no metric filter writes {metric} {keys:?}"
                        );
                        for (k, v) in &dims {
                            if *k == "Webhook" {
                                assert!(WEBHOOK_GROUPS.iter().any(|(w, _)| w.as_str() == *v));
                            }
                        }
                    } else {
                        assert!(
                            aws.iter().any(|(n, name, k, v)| {
                                *n == namespace && *name == metric && dims == [(*k, *v)]
                            }),
                            "{namespace} {metric} {dims:?}: not a metric AWS emits for the stack"
                        );
                    }
                }
            }
            Some("log") => {
                let query = p["query"].as_str().expect("query");
                for (_, group) in WEBHOOK_GROUPS {
                    let name = match &template::resource(group)["Properties"]["LogGroupName"] {
                        Value::Tagged(t) => text(&t.value, "LogGroupName").to_owned(),
                        other => text(other, "LogGroupName").to_owned(),
                    };
                    assert!(query.contains(&format!("SOURCE '{name}'")), "{group}");
                }
                assert!(query.contains("filter message = \"delivery\""), "{query}");
                assert!(query.contains("by webhook, outcome"), "{query}");
            }
            Some("alarm") => {
                let listed: BTreeSet<&str> = p["alarms"]
                    .as_array()
                    .expect("alarms")
                    .iter()
                    .filter_map(|a| a.as_str()?.strip_prefix("${")?.strip_suffix(".Arn}"))
                    .collect();
                let always: BTreeSet<&str> = of_type("AWS::CloudWatch::Alarm")
                    .into_iter()
                    .filter(|(_, a)| a.get("Condition").is_none())
                    .map(|(id, _)| id)
                    .collect();
                // A conditional alarm's Arn would fail the deploy where its condition is false.
                assert_eq!(listed, always);
            }
            other => panic!("{other:?}: a widget the test does not know"),
        }
    }
    for needed in [
        "Deliveries",
        "Latency",
        "WebhookQuarantined",
        "WebhookInboxed",
        "InboxOldestMinutes",
        "NumberOfMessagesPublished",
        "NotificationsFailed",
        "RecoveredChanges",
        "StuckAlertsSent",
        "HoursSilent",
        "SilentHeartbeats",
    ] {
        assert!(drawn.contains(needed), "the dashboard lacks {needed}");
    }
    for name in &names {
        let resource = name.split('.').next().expect("a name");
        assert!(
            resource.starts_with("AWS::") || !template::resource(resource).is_null(),
            "{name}"
        );
    }
    let url = match &template::template()["Outputs"]["DashboardUrl"]["Value"] {
        Value::Tagged(t) => text(&t.value, "DashboardUrl").to_owned(),
        other => panic!("DashboardUrl: {other:?}"),
    };
    assert!(url.contains("#dashboards:name=${Dashboard}"), "{url}");
}

/// The dashboard's own counts come from lines the code writes: a delivery kept in the inbox,
/// and the stuck check's summary of the alerts it sent.
#[test]
fn the_inboxed_and_stuck_alert_counts_read_the_lines_the_code_writes() {
    let inboxed = serde_json::json!({"message": "delivery", "webhook": "orders", "status": 200,
        "outcome": qapla::webhook::Outcome::Deferred.as_string(), "channel": "shop-it"});
    for (_, group) in WEBHOOK_GROUPS {
        let metrics: Vec<String> = metrics_of(group, &inboxed)
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert!(
            metrics.contains(&"WebhookInboxed".to_owned()),
            "{group}: {metrics:?}"
        );
    }
    let summary = serde_json::json!({"message": qapla::stuck::LOG_LINE, "alerted": 2,
        "outcome": qapla::stuck::DONE});
    assert_eq!(
        metrics_of("StuckLogGroup", &summary)[0].0,
        "StuckAlertsSent"
    );
    let none = serde_json::json!({"message": qapla::stuck::LOG_LINE, "alerted": 0,
        "outcome": qapla::stuck::DONE});
    assert!(metrics_of("StuckLogGroup", &none).is_empty());
}
