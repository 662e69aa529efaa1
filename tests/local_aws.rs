//! The local AWS of the tests, the local runner and the benchmarks: DynamoDB Local for DynamoDB
//! and its stream, moto for S3, SNS, SQS, SSM and EventBridge, both started side by side. The
//! clients reach them as the functions would, through the SDK's service-specific endpoints.

use crate::dynamodb_local::DynamoDbLocal;
use crate::moto::{free_port, Moto};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

pub struct LocalAws {
    pub moto: Moto,
    pub dynamodb: DynamoDbLocal,
}

/// The shared servers of this test binary, started on its first use.
pub fn shared() -> &'static LocalAws {
    static LOCAL: OnceLock<LocalAws> = OnceLock::new();
    LOCAL.get_or_init(|| {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        LocalAws::start_on(localhost, free_port(), free_port()).unwrap_or_else(|e| panic!("{e}"))
    })
}

impl LocalAws {
    /// Both servers on `host`, moto on `moto_port` and DynamoDB Local on `dynamodb_port`,
    /// started at the same time (each takes seconds).
    pub fn start_on(host: IpAddr, moto_port: u16, dynamodb_port: u16) -> Result<LocalAws, String> {
        let (moto, dynamodb) = std::thread::scope(|s| {
            let dynamodb = s.spawn(|| DynamoDbLocal::start_on(host, dynamodb_port));
            let moto = Moto::start_on(host, moto_port, &[]);
            let dynamodb = dynamodb
                .join()
                .unwrap_or_else(|_| Err("DynamoDB Local's start panicked".into()));
            (moto, dynamodb)
        });
        Ok(LocalAws {
            moto: moto?,
            dynamodb: dynamodb?,
        })
    }

    pub fn endpoints(&self) -> LocalEndpoints {
        LocalEndpoints {
            aws: self.moto.endpoint(),
            dynamodb: self.dynamodb.endpoint(),
        }
    }
}

/// Where a client goes: DynamoDB (and its stream) to one endpoint, every other service to
/// another. A test puts a proxy in front of either to take that service away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEndpoints {
    /// S3, SNS, SQS, SSM, EventBridge (moto).
    pub aws: String,
    /// DynamoDB and DynamoDB Streams (DynamoDB Local).
    pub dynamodb: String,
}

impl LocalEndpoints {
    /// The shared servers' endpoints.
    pub fn shared() -> LocalEndpoints {
        shared().endpoints()
    }

    /// The same, with DynamoDB at `url` (a proxy in front of it, say).
    pub fn with_dynamodb(&self, url: impl Into<String>) -> LocalEndpoints {
        LocalEndpoints {
            dynamodb: url.into(),
            ..self.clone()
        }
    }

    /// The same, with every service but DynamoDB at `url`.
    pub fn with_aws(&self, url: impl Into<String>) -> LocalEndpoints {
        LocalEndpoints {
            aws: url.into(),
            ..self.clone()
        }
    }

    /// The SDK's service configuration for them.
    pub fn service_config(&self) -> qapla_aws::endpoint::Endpoints {
        qapla_aws::endpoint::Endpoints::local(&self.aws, &self.dynamodb)
    }

    /// The SDK's standard variables that name them, for a process started with them.
    pub fn variables(&self) -> Vec<(String, String)> {
        use qapla_aws::endpoint::{service_variable, AWS_ENDPOINT_URL};
        vec![
            (AWS_ENDPOINT_URL.to_owned(), self.aws.clone()),
            (service_variable("DynamoDB"), self.dynamodb.clone()),
            (service_variable("DynamoDB Streams"), self.dynamodb.clone()),
        ]
    }
}
