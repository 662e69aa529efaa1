//! The notifier's messages against SNS's limits, on moto: a large return is published whole and
//! reaches a queue, and what SNS refuses for good is told apart, by its error code, from what a
//! retry can fix.

use crate::notifier_rig::Rig;
use crate::stack;
use qapla::fixtures;
use qapla::notify::{EventType, Notice, PublishError, Publisher};
use qapla::Kind;
use qapla_aws::sns::SnsPublisher;
use serde_json::json;

/// The wrapped returns fixture with `rows` rows of about 200 bytes each.
fn big_return(rows: usize) -> String {
    let mut body = fixtures::RETURNS_WRAPPED.json();
    let row = json!({"sku": "SKU-0000000001", "name": "Maglietta in cotone biologico, taglia M, colore blu notte",
                     "qty": "1", "total": "19.90", "reason": "La taglia non corrisponde a quella ordinata, troppo stretta"});
    body["webhookReturnShipments"]["returnShipments"][0]["rows"] = json!(vec![row; rows]);
    body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_kb_return_is_published_and_reaches_its_subscriber() {
    let mut rig = Rig::new().await;
    // The rows go out only with personal data allowed: they are what makes the message large.
    rig.personal_data = true;
    let body = big_return(240);
    assert!(body.len() > 40 * 1024, "{} bytes", body.len());
    assert_eq!(rig.deliver(Kind::Return, &body).await, "stored");
    assert_eq!(rig.notify().await, 0, "no record reported failed");
    let all = rig.drain_all().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["event"], json!("return.requested"));
    assert_eq!(
        all[0]["return"]["payload"]["rows"].as_array().map(Vec::len),
        Some(240),
        "the whole return"
    );
}

fn notice(email_body: String) -> Notice {
    Notice {
        event: EventType::ReturnRequested,
        id: "return.requested:limits".into(),
        attributes: vec![(qapla::notify::attr::EVENT, "return.requested".into())],
        document: json!({"schema": qapla::notify::SCHEMA}),
        email_subject: "limits".into(),
        email_body,
        sms: "limits".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_refusals_of_the_message_are_permanent_and_the_rest_temporary() {
    let rig = Rig::new().await;
    let sns = aws_sdk_sns::Client::new(&stack::sdk(&rig.endpoints).await);
    let topic_arn = &rig.subscribers.topic_arn;
    let publisher = SnsPublisher::new(sns.clone(), topic_arn);
    assert_eq!(publisher.publish(&notice("small".into())).await, Ok(()));

    // Over 256 KB: SNS answers InvalidParameter, and so it would on every retry.
    let too_large = publisher.publish(&notice("x".repeat(300 * 1024))).await;
    assert!(
        matches!(too_large, Err(PublishError::Permanent(_))),
        "{too_large:?}"
    );

    // A topic that is not there is the stack's state, not the message's: a retry after the
    // operator's fix can succeed.
    let missing = SnsPublisher::new(sns, format!("{topic_arn}-missing"));
    let refused = missing.publish(&notice("small".into())).await;
    assert!(
        matches!(refused, Err(PublishError::Temporary(_))),
        "{refused:?}"
    );
}
