//! Where the SDK clients go in a local run: AWS's own endpoints unless the environment names
//! others, one for every service and one per service.
//!
//! Locally the store is two servers: DynamoDB Local (DynamoDB and its stream) and moto (S3, SNS,
//! SQS, SSM, EventBridge). The SDK's standard variables name them, `AWS_ENDPOINT_URL` for every
//! service and `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_DYNAMODB`, ...) for one, the
//! service-specific one first, as aws-config reads them; the functions build their configuration
//! without aws-config's loader, so [`Endpoints`] reads them the same way.
//!
//! The template always declares [`LOCAL_ENDPOINT_URL`] and [`LOCAL_ENDPOINT_URL_DYNAMODB`] (from
//! its parameters `LocalEndpointUrl` and `LocalDynamoDbEndpointUrl`, empty by default) because SAM
//! CLI hands a function only the variables the template declares: that is what lets
//! `events/env.local.json` set them. Deployed, they are empty, and empty means AWS's own endpoints,
//! as if the variables were not there. Variables of our own rather than the SDK's: the SDK would
//! take an empty value for an endpoint, and the deployed stack sets none of the SDK's.

use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use qapla::config::{check_url, PlainHttp, UrlRefused};
use std::collections::BTreeMap;

/// The variable the template passes from its `LocalEndpointUrl` parameter: every service.
pub const LOCAL_ENDPOINT_URL: &str = "LOCAL_ENDPOINT_URL";

/// The variable the template passes from its `LocalDynamoDbEndpointUrl` parameter: DynamoDB and
/// its stream.
pub const LOCAL_ENDPOINT_URL_DYNAMODB: &str = "LOCAL_ENDPOINT_URL_DYNAMODB";

/// The SDK's variable for every service; `<this>_<SERVICE>` names one.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// The services of the project's clients, by the SDK's service id (the variable's suffix is the
/// id upper-cased, spaces as underscores).
pub const SERVICES: [&str; 7] = [
    "DynamoDB",
    "DynamoDB Streams",
    "S3",
    "SNS",
    "SQS",
    "SSM",
    "EventBridge",
];

/// The endpoint every client must use, if any: `LOCAL_ENDPOINT_URL`, unless unset or blank.
pub fn local_endpoint(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    set(&lookup, LOCAL_ENDPOINT_URL)
}

fn set(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `AWS_ENDPOINT_URL_<SERVICE>` of a service id.
pub fn service_variable(service_id: &str) -> String {
    format!(
        "{AWS_ENDPOINT_URL}_{}",
        service_id.to_ascii_uppercase().replace(' ', "_")
    )
}

/// An endpoint variable the functions refuse at cold start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {refused}")]
pub struct InsecureEndpoint {
    pub variable: String,
    pub refused: UrlRefused,
}

/// Checks every endpoint variable the functions read: an SDK call carries the table's and the
/// bucket's content, so plain http may go only to a local run's store (this machine, a private
/// address, `host.docker.internal`), never elsewhere; https anywhere.
pub fn check(lookup: impl Fn(&str) -> Option<String>) -> Result<(), InsecureEndpoint> {
    let variables = [
        LOCAL_ENDPOINT_URL,
        LOCAL_ENDPOINT_URL_DYNAMODB,
        AWS_ENDPOINT_URL,
    ]
    .map(str::to_owned)
    .into_iter()
    .chain(SERVICES.iter().map(|id| service_variable(id)));
    for variable in variables {
        if let Some(url) = set(&lookup, &variable) {
            check_url(&url, PlainHttp::Local)
                .map_err(|refused| InsecureEndpoint { variable, refused })?;
        }
    }
    Ok(())
}

/// The endpoints a configuration names: one for every service, and per service (by service id).
/// Given to the SDK as its service configuration, so each client finds its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub all: Option<String>,
    pub by_service: BTreeMap<String, String>,
}

impl Endpoints {
    /// From the environment (through `lookup`), blank values unset. Every service: the
    /// template's `LOCAL_ENDPOINT_URL`, else `AWS_ENDPOINT_URL`. DynamoDB and its stream: the
    /// template's `LOCAL_ENDPOINT_URL_DYNAMODB`, else their own SDK variable, else every
    /// service's. Any other service: its own SDK variable, else every service's.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Endpoints {
        let local_dynamodb = set(&lookup, LOCAL_ENDPOINT_URL_DYNAMODB);
        let by_service = SERVICES
            .iter()
            .filter_map(|id| {
                let own = set(&lookup, &service_variable(id));
                let url = match *id {
                    "DynamoDB" | "DynamoDB Streams" => local_dynamodb.clone().or(own),
                    _ => own,
                };
                url.map(|url| ((*id).to_owned(), url))
            })
            .collect();
        Endpoints {
            all: local_endpoint(&lookup).or_else(|| set(&lookup, AWS_ENDPOINT_URL)),
            by_service,
        }
    }

    /// One endpoint for every service, and DynamoDB's (with its stream) apart: a local run's.
    pub fn local(all: &str, dynamodb: &str) -> Endpoints {
        Endpoints {
            all: Some(all.to_owned()),
            by_service: ["DynamoDB", "DynamoDB Streams"]
                .into_iter()
                .map(|id| (id.to_owned(), dynamodb.to_owned()))
                .collect(),
        }
    }

    /// The endpoint a service's client uses: its own, else every service's, else AWS's (None).
    pub fn of(&self, service_id: &str) -> Option<&str> {
        self.by_service
            .get(service_id)
            .or(self.all.as_ref())
            .map(String::as_str)
    }
}

impl LoadServiceConfig for Endpoints {
    /// Only the endpoint, only a service's own: every service's is the SDK configuration's
    /// endpoint, which a client takes when this gives none.
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == AWS_ENDPOINT_URL)
            .then(|| self.by_service.get(key.service_id()).cloned())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn endpoints(vars: &[(&str, &str)]) -> Endpoints {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        Endpoints::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()))
    }

    #[test]
    fn the_deployed_stack_resolves_no_custom_endpoint() {
        // The template's defaults for LocalEndpointUrl and LocalDynamoDbEndpointUrl are empty.
        let e = endpoints(&[
            (LOCAL_ENDPOINT_URL, ""),
            (LOCAL_ENDPOINT_URL_DYNAMODB, "  "),
        ]);
        assert_eq!(e, Endpoints::default());
        for id in SERVICES {
            assert_eq!(e.of(id), None, "{id}");
        }
        assert_eq!(local_endpoint(|_| None), None);
    }

    #[test]
    fn a_sam_local_run_resolves_its_two_endpoints() {
        let e = endpoints(&[
            (LOCAL_ENDPOINT_URL, "http://host.docker.internal:5050"),
            (
                LOCAL_ENDPOINT_URL_DYNAMODB,
                "http://host.docker.internal:5051",
            ),
            (AWS_ENDPOINT_URL, "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2"),
        ]);
        assert_eq!(e.of("DynamoDB"), Some("http://host.docker.internal:5051"));
        assert_eq!(
            e.of("DynamoDB Streams"),
            Some("http://host.docker.internal:5051")
        );
        assert_eq!(e.of("S3"), Some("http://host.docker.internal:5050"));
        assert_eq!(e.of("SNS"), Some("http://host.docker.internal:5050"));
    }

    #[test]
    fn the_sdk_variables_service_first() {
        let e = endpoints(&[
            (AWS_ENDPOINT_URL, "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://127.0.0.1:8001"),
            ("AWS_ENDPOINT_URL_SQS", ""),
        ]);
        assert_eq!(e.of("DynamoDB"), Some("http://127.0.0.1:8000"));
        assert_eq!(e.of("DynamoDB Streams"), Some("http://127.0.0.1:8001"));
        assert_eq!(e.of("SQS"), Some("http://127.0.0.1:5000"));
        assert_eq!(e.of("EventBridge"), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn plain_http_to_anything_but_a_local_store_is_refused() {
        let checked = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            check(|name| vars.get(name).cloned())
        };
        assert_eq!(
            checked(&[(LOCAL_ENDPOINT_URL, ""), (LOCAL_ENDPOINT_URL_DYNAMODB, "")]),
            Ok(())
        );
        assert_eq!(
            checked(&[
                (LOCAL_ENDPOINT_URL, "http://host.docker.internal:5050"),
                (LOCAL_ENDPOINT_URL_DYNAMODB, "http://172.17.0.1:5051"),
                (AWS_ENDPOINT_URL, "http://127.0.0.1:5000"),
                ("AWS_ENDPOINT_URL_S3", "https://s3.example.com"),
            ]),
            Ok(())
        );
        for (variable, url) in [
            (LOCAL_ENDPOINT_URL, "http://store.example.com:5050"),
            (LOCAL_ENDPOINT_URL_DYNAMODB, "http://8.8.8.8:8000"),
            (AWS_ENDPOINT_URL, "http://dynamodb.eu-south-1.amazonaws.com"),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://example.com"),
            ("AWS_ENDPOINT_URL_SNS", "tcp://127.0.0.1:1"),
        ] {
            let e = checked(&[(variable, url)]).expect_err(url);
            assert_eq!(e.variable, variable);
            assert!(e.to_string().starts_with(&format!("{variable}: ")), "{e}");
        }
    }

    #[test]
    fn variable_names_are_the_sdks() {
        assert_eq!(service_variable("DynamoDB"), "AWS_ENDPOINT_URL_DYNAMODB");
        assert_eq!(
            service_variable("DynamoDB Streams"),
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"
        );
        assert_eq!(
            service_variable("EventBridge"),
            "AWS_ENDPOINT_URL_EVENTBRIDGE"
        );
    }

    #[test]
    fn the_sdk_asks_for_a_services_own_endpoint_only() {
        let e = Endpoints::local("http://127.0.0.1:5000", "http://127.0.0.1:8000");
        let key = |service: &'static str, env: &'static str| {
            ServiceConfigKey::builder()
                .service_id(service)
                .env(env)
                .profile("endpoint_url")
                .build()
                .expect("key")
        };
        let got = |service, env| e.load_config(key(service, env));
        assert_eq!(
            got("DynamoDB", AWS_ENDPOINT_URL).as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            got("DynamoDB Streams", AWS_ENDPOINT_URL).as_deref(),
            Some("http://127.0.0.1:8000")
        );
        // Every other service takes the configuration's own endpoint.
        assert_eq!(got("SNS", AWS_ENDPOINT_URL), None);
        assert_eq!(got("DynamoDB", "AWS_MAX_ATTEMPTS"), None);
    }
}
