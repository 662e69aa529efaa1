//! The SDK's HTTP client speaks TLS (rustls over ring) and verifies the server: a store behind
//! HTTPS with a certificate we trust works, the same store with only the system's roots does not.

use crate::moto::Moto;
use crate::{delivery, events, stack};
use aws_smithy_http_client::tls::{TlsContext, TrustStore};
use qapla_aws::dynamo::DynamoStore;
use std::process::Command;

/// A test CA and a server certificate for 127.0.0.1 signed by it, made with the `cryptography`
/// package moto brings. Returns the CA's PEM path, and the server's certificate and key paths.
fn certificates(dir: &std::path::Path) -> (String, String, String) {
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    let script = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
now = datetime.datetime.now(datetime.timezone.utc)
def build(subject, issuer, public_key, signing_key, ca):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return b.sign(signing_key, hashes.SHA256())
ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qapla test CA")])
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
cert = build(name, ca_name, key.public_key(), ca_key, False)
pem = serialization.Encoding.PEM
open(sys.argv[1], "wb").write(ca.public_bytes(pem))
open(sys.argv[2], "wb").write(cert.public_bytes(pem))
open(sys.argv[3], "wb").write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    let python = crate::moto::project_root().join(".venv/bin/python");
    let status = Command::new(python)
        .args(["-c", script])
        .args([&ca, &cert, &key])
        .status()
        .expect("run the project's Python");
    assert!(status.success(), "could not make the test certificates");
    let path = |p: &std::path::Path| p.display().to_string();
    (path(&ca), path(&cert), path(&key))
}

async fn dynamo_over_tls(port: u16, tls: TlsContext) -> aws_sdk_dynamodb::Client {
    let config = qapla_aws::sdk_loader()
        .http_client(qapla_aws::http_client(tls))
        .endpoint_url(format!("https://127.0.0.1:{port}"))
        .region(aws_config::Region::new(stack::REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "t", "t", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_speaks_tls_and_checks_the_certificate() {
    let dir = std::env::temp_dir().join(format!("qapla-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (ca, cert, key) = certificates(&dir);
    let moto = Moto::start_with(&["-s", "-c", &cert, "-k", &key]);
    let pem = std::fs::read(&ca).expect("CA certificate");

    let trusted = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
        .build()
        .expect("tls context");
    let client = dynamo_over_tls(moto.port, trusted).await;
    stack::create_table(&client, "tls").await;
    let hook = qapla::webhook::Webhook::new(
        qapla::Kind::Shipment,
        delivery::webhook_config("tls").settings,
        DynamoStore::new(client.clone(), "tls"),
        None::<qapla_aws::s3::S3Archive>,
    );
    let body = qapla::fixtures::Fixture::named("shipment-1.2-in-transit").body;
    let got = delivery::invoke(
        &hook,
        &events::event(qapla::Kind::Shipment, body, events::QAPLA_IP),
    )
    .await;
    assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));

    // With only the system's roots, the self-signed server must be refused.
    let untrusted = dynamo_over_tls(moto.port, TlsContext::default()).await;
    let err = untrusted
        .list_tables()
        .send()
        .await
        .expect_err("a server outside the trusted roots must be refused");
    let text = aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string();
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
