//! The outbound HTTP client behind the `http-client` host interface in a recording run:
//! ureq, blocking (the scheduler waits for the response anyway), with the runtime's
//! timeout and response size limits. A replay never has one.

use std::time::Duration;

use theater_runtime::http::{Body, HttpClient, OutboundError, OutboundRequest, OutboundResponse};
use theater_runtime::Limits;

/// Sends actors' outbound requests with ureq.
#[derive(Debug, Default)]
pub struct UreqClient;

impl HttpClient for UreqClient {
    fn send(
        &self,
        request: &OutboundRequest,
        limits: &Limits,
    ) -> Result<OutboundResponse, OutboundError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(limits.http_timeout_ms)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let http_request = builder
            .body(request.body.0.clone())
            .map_err(|e| OutboundError::InvalidRequest(e.to_string()))?;
        let mut response = agent.run(http_request).map_err(error)?;
        let status = response.status().as_u16();
        let headers = crate::ingress::header_pairs(response.headers());
        let body = response
            .body_mut()
            .with_config()
            .limit(limits.http_response_bytes)
            .read_to_vec()
            .map_err(error)?;
        Ok(OutboundResponse {
            status,
            headers,
            body: Body(body),
        })
    }
}

fn error(e: ureq::Error) -> OutboundError {
    match e {
        ureq::Error::Timeout(_) => OutboundError::Timeout,
        ureq::Error::BodyExceedsLimit(_) => OutboundError::TooLarge,
        ureq::Error::BadUri(m) => OutboundError::InvalidRequest(m),
        ureq::Error::Http(e) => OutboundError::InvalidRequest(e.to_string()),
        other => OutboundError::Connection(other.to_string()),
    }
}
