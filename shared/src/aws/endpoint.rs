//! The endpoint of a local store, for `sam local invoke` against moto.
//!
//! The template always declares [`LOCAL_ENDPOINT_URL`] (from its parameter `LocalEndpointUrl`,
//! empty by default) because SAM CLI hands a function only the variables the template declares:
//! that is what lets `events/env.local.json` set it. Deployed, it is empty, and empty means AWS's
//! own endpoints, as if the variable were not there.
//!
//! A variable of our own rather than `AWS_ENDPOINT_URL`: the SDK reads that one itself, again for
//! each service client, and would take an empty value for an endpoint.

/// The variable the template passes from its `LocalEndpointUrl` parameter.
pub const LOCAL_ENDPOINT_URL: &str = "LOCAL_ENDPOINT_URL";

/// The endpoint every client must use, if any: the variable's value, unless unset or blank.
pub fn local_endpoint(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup(LOCAL_ENDPOINT_URL)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: Option<&str>) -> Option<String> {
        local_endpoint(|k| {
            assert_eq!(k, LOCAL_ENDPOINT_URL);
            value.map(str::to_owned)
        })
    }

    #[test]
    fn the_deployed_stack_resolves_no_custom_endpoint() {
        // The template's default for LocalEndpointUrl is the empty string.
        assert_eq!(with(Some("")), None);
        assert_eq!(with(Some("  ")), None);
        assert_eq!(with(None), None);
    }

    #[test]
    fn a_local_run_resolves_its_endpoint() {
        assert_eq!(
            with(Some("http://host.docker.internal:5050")).as_deref(),
            Some("http://host.docker.internal:5050")
        );
    }
}
