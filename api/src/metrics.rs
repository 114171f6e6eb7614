//! The API's own metrics. Labels are bounded: `route` is the matched route template
//! (`/api/v1/customers/{id}`), never the raw path.

/// Counts a finished request and records its latency.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("orderflow_http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "orderflow_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(seconds);
}

/// Counts an order placed (not a replay).
pub fn order_created() {
    metrics::counter!("orderflow_orders_created_total").increment(1);
}
