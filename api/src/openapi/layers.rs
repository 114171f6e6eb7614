//! What every `/api/v1` operation can answer because of the layers in front of its handler
//! and the extractors it uses, written into the document here once rather than on each
//! handler. Responses a handler documents itself keep their description.

use utoipa::openapi::{
    self, ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder,
    Type, path::ParameterIn,
};

/// Adds to every `/api/v1` operation the responses its layers and extractors produce:
/// - every operation: the `RateLimit-*` fields on every response (`middleware/rate_limit.rs`),
///   429 with `Retry-After` when over a quota, 503 when the database is unreachable, the
///   request timed out or argon2 is saturated;
/// - with a token required: 401;
/// - with a body (`AppJson`/`Form`): 400 malformed, 413 over `MAX_BODY_BYTES`, 415 wrong
///   `Content-Type`, 422 a field missing or invalid;
/// - with path ids (`AppPath`): 404 no such resource, 422 an id that is not an int64;
/// - with query parameters (`AppQuery`): 422 an unknown or invalid parameter;
/// - with an `Idempotency-Key` header: 400 a malformed key.
pub fn document(spec: &mut openapi::OpenApi) {
    for (path, item) in spec.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for operation in super::operations(item) {
            let params = operation.parameters.as_deref().unwrap_or_default();
            let has = |place: ParameterIn| {
                params
                    .iter()
                    .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
            };
            let (in_path, in_query, in_header) = (
                has(ParameterIn::Path),
                has(ParameterIn::Query),
                has(ParameterIn::Header),
            );
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let body = operation.request_body.is_some();
            let mut add = |status: &str, description: &str| {
                operation
                    .responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| error_response(description));
            };
            add(
                "429",
                "Over this client's or user's request quota (see Retry-After)",
            );
            add(
                "503",
                "Database unreachable or busy (a statement or lock time limit), request timed out or sign-ins saturated; try again",
            );
            if secured {
                add("401", "Missing, invalid or expired bearer token");
            }
            if body {
                add("400", "Malformed body");
                add("413", "Body larger than 1 MiB");
                add("415", "Content-Type is not the one this operation takes");
                add("422", "A field is missing or invalid (`errors` names it)");
            }
            if in_path {
                add("404", "No such resource (or not yours)");
                add("422", "A path parameter is not a valid id");
            }
            if in_query {
                add(
                    "422",
                    "An unknown or invalid query parameter (`errors` names it)",
                );
            }
            if in_header {
                add("400", "A malformed header (e.g. Idempotency-Key)");
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                add_rate_limit_headers(response);
                if status == "429" || status == "503" {
                    response
                        .headers
                        .entry("Retry-After".into())
                        .or_insert_with(|| {
                            header(
                                Type::Integer,
                                "Seconds to wait before trying again (when known)",
                            )
                        });
                }
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

fn add_rate_limit_headers(response: &mut Response) {
    for (name, kind, description) in [
        (
            "RateLimit-Limit",
            Type::Integer,
            "Requests the quota allows at once (draft-ietf-httpapi-ratelimit-headers-06)",
        ),
        (
            "RateLimit-Remaining",
            Type::Integer,
            "Requests still allowed now",
        ),
        (
            "RateLimit-Reset",
            Type::Integer,
            "Seconds until the whole quota is available again",
        ),
        (
            "RateLimit-Policy",
            Type::String,
            "The quota as `limit;w=seconds`",
        ),
    ] {
        response
            .headers
            .entry(name.into())
            .or_insert_with(|| header(kind, description));
    }
}

fn header(kind: Type, description: &str) -> RefOr<openapi::Header> {
    let mut schema = ObjectBuilder::new().schema_type(kind.clone());
    if kind == Type::Integer {
        schema = schema.minimum(Some(0));
    }
    RefOr::T(
        HeaderBuilder::new()
            .schema(Some(schema.build()))
            .description(Some(description))
            .build(),
    )
}
