//! The floor of the size and cold-start figures (`make bench`): a bare `lambda_runtime` function,
//! built with the same profile and flags as the functions, that reads the event and answers OK as
//! a webhook would, with no SDK, TLS or logging. Not part of the stack.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "body": "{\"result\":\"OK\"}"}))
    }))
    .await
}
