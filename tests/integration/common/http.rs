//! A blocking HTTP client for fixtures: loopback only, no proxy, bounded.

use std::time::Duration;

/// Longest any single fixture request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An agent that returns every status as a response (the fixtures look at
/// 401s and 404s themselves), ignores proxy variables, and does not follow
/// redirects.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .into()
}
