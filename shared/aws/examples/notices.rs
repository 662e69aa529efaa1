//! Prints what the notifier would publish for a DynamoDB stream event (read from standard input):
//! per record, the event, the attributes, the JSON document, and the email and SMS texts an alert
//! subscriber would get. Reads the same settings as the notifier.

use qapla::config::NotifierConfig;
use qapla::notify::batch::notice;
use qapla_aws::stream::record;
use std::io::Read;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&input)?;
    let config = NotifierConfig::from_lookup(|k| match k {
        qapla::config::TOPIC_ARN => Some("local".into()),
        other => std::env::var(other).ok(),
    })?;
    for r in &event.records {
        let Some(notice) = notice(&config.notifier, &record(r))? else {
            continue;
        };
        let attributes: Vec<String> = notice
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("--- {} [{}]", notice.event.as_str(), attributes.join(" "));
        println!("JSON: {}", notice.document);
        let severity = notice
            .attributes
            .iter()
            .find(|(k, _)| *k == qapla::notify::attr::SEVERITY)
            .map(|(_, v)| v.as_str());
        if matches!(severity, Some("warning" | "exception")) {
            println!("EMAIL subject: {}", notice.email_subject);
            for line in notice.email_body.lines() {
                println!("  | {line}");
            }
            println!("SMS ({} chars): {}", notice.sms.chars().count(), notice.sms);
        }
    }
    Ok(())
}
