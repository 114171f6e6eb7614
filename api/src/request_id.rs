//! The ids of the request being served on this task: the server's own (`X-Request-Id` on every
//! response, in every log line and error body) and the client's correlation id when it sent a
//! sane one. Set by `middleware::request_context`; read by errors, audit entries and job
//! payloads. A module of its own so that the error type and the middleware (which builds
//! error responses) do not import each other.

tokio::task_local! {
    static REQUEST_ID: String;
    static CLIENT_REQUEST_ID: Option<String>;
}

/// The id of the request being served on this task, if any: always the server's own.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// What the client sent as `X-Request-Id` (when sane): its own correlation id, logged and
/// audited beside the server's, never in its place.
pub fn current_client() -> Option<String> {
    CLIENT_REQUEST_ID.try_with(Clone::clone).ok().flatten()
}

/// Runs `f` with these ids as the task's.
pub async fn scope<F: Future>(id: String, client: Option<String>, f: F) -> F::Output {
    REQUEST_ID
        .scope(id, CLIENT_REQUEST_ID.scope(client, f))
        .await
}
