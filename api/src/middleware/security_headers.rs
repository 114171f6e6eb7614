//! Headers every response carries, so browsers treat the API's answers as data only:
//!
//! - `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
//!   `X-Frame-Options: DENY`;
//! - `Cache-Control: no-store` on every `/api/v1` response and on any request that carried
//!   credentials — tokens and personal data must not be kept by browsers or shared caches;
//! - a Content-Security-Policy: nothing at all may load from API responses; the documentation
//!   pages (`/docs`, `/redoc`) may load only their own scripts and styles from this server
//!   (both are vendored in the binary, so they render offline). ReDoc and Swagger UI set
//!   styles at run time, hence `'unsafe-inline'` for styles only; ReDoc renders in a worker
//!   from a `blob:` URL.

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, header},
};

pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Runs on every request: no allocation.
fn is_docs(path: &str) -> bool {
    ["/docs", "/redoc"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Which headers a response gets, decided from its request.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    docs: bool,
    private: bool,
}

impl Policy {
    pub fn for_request(req: &Request) -> Self {
        let path = req.uri().path();
        Self {
            docs: is_docs(path),
            private: path.starts_with("/api/")
                || req.headers().contains_key(header::AUTHORIZATION)
                || req.headers().contains_key(header::COOKIE),
        }
    }

    /// Adds the headers (called once per response by `request_context`).
    pub fn apply(self, headers: &mut HeaderMap) {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if self.docs { DOCS_CSP } else { API_CSP }),
        );
        if self.private {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_docs;

    #[test]
    fn only_the_documentation_pages_get_the_docs_policy() {
        for (path, docs) in [
            ("/docs", true),
            ("/docs/", true),
            ("/docs/swagger-ui.css", true),
            ("/redoc", true),
            ("/redoc/redoc.standalone.js", true),
            ("/docsx", false),
            ("/api/v1/docs", false),
            ("/openapi.json", false),
        ] {
            assert_eq!(is_docs(path), docs, "{path}");
        }
    }
}
