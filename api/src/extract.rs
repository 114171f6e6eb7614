//! Request extractors whose rejections are `ApiError`s, so malformed JSON, wrong types, missing
//! or unknown fields and bad query strings get the same error shape as everything else, with
//! the path of the offending field (`items[0].quantity`).

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body. 415 without a JSON content type, 400 when it is not JSON, 422 when it does not
/// fit the expected shape.
pub struct AppJson<T>(pub T);

/// Query string, 422 when a parameter does not parse.
pub struct AppQuery<T>(pub T);

/// `application/x-www-form-urlencoded` body (the OAuth2 password flow).
pub struct AppForm<T>(pub T);

/// Path parameters, 422 when one does not parse (e.g. `/customers/abc`).
pub struct AppPath<T>(pub T);

fn has_content_type(req: &Request, expected: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == expected || (expected == "application/json" && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("Could not read the request body".into())
            }
        })
}

/// Turns a deserialisation failure at `path` into a 422 naming the field. serde reports
/// unknown and missing fields at the enclosing object, so the field name is taken from the
/// message.
fn field_error(path: String, message: String) -> ApiError {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (path.as_str(), named) {
        (".", Some(name)) => name.to_string(),
        // serde_path_to_error already ends the path of an unknown field with its name.
        (p, Some(name)) if p == name || p.ends_with(&format!(".{name}")) => path,
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_string(),
        (_, None) => path,
    };
    let message = match message.split_once(", expected one of") {
        Some((head, _)) if head.starts_with("unknown field") => {
            "is not an accepted field".to_string()
        }
        _ => message,
    };
    ApiError::validation(field, message)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !has_content_type(&req, "application/json") {
            return Err(ApiError::UnsupportedMediaType(
                "Expected Content-Type: application/json".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        json_object(&bytes).map(Self)
    }
}

/// Deserialises a JSON object body in one pass. Syntax first (400), then shape (422): a body
/// with trailing garbage is malformed even if its first value lacks a field, so a shape error
/// is reported only once the whole body has been checked to be JSON (on that error path only).
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // Every OrderFlow request body is an object; serde would accept an array for a struct
        // and report a confusing `[0]` path.
        check_syntax(bytes)?;
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => {
            de.end().map_err(malformed)?;
            Ok(value)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.classify() != serde_json::error::Category::Data {
                return Err(malformed(inner));
            }
            check_syntax(bytes)?;
            Err(field_error(path, without_position(&inner)))
        }
    }
}

fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("Malformed JSON: {e}"))
}

/// 400 unless `bytes` is one JSON value (and nothing after it) within serde_json's nesting
/// limit (`IgnoredAny` would skip any depth).
fn check_syntax(bytes: &[u8]) -> Result<(), ApiError> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map(|_| ())
        .map_err(malformed)
}

/// A shape error's message without serde_json's ` at line L column C` (the field's path
/// says where, as it did when bodies were parsed to a `Value` first).
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match message.strip_suffix(&position) {
        Some(bare) => bare.to_string(),
        None => message,
    }
}

/// Deserialises an already-parsed JSON value, naming the offending field on failure (422).
pub fn from_value<T: DeserializeOwned>(json: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(json)
        .map_err(|err| field_error(err.path().to_string(), err.into_inner().to_string()))
}

fn from_urlencoded<T: DeserializeOwned>(input: &[u8]) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(input));
    serde_path_to_error::deserialize(de)
        .map_err(|err| field_error(err.path().to_string(), err.into_inner().to_string()))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        from_urlencoded(query.as_bytes()).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !has_content_type(&req, "application/x-www-form-urlencoded") {
            return Err(ApiError::UnsupportedMediaType(
                "Expected Content-Type: application/x-www-form-urlencoded".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        from_urlencoded(&bytes).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|rejection| ApiError::validation("path", rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ApiError) -> (String, String) {
        match err {
            ApiError::Validation { errors, .. } => {
                (errors[0].field.clone(), errors[0].message.clone())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_offending_field() {
        for (path, message, field) in [
            (".", "missing field `email`", "email"),
            (
                "status",
                "unknown field `status`, expected one of `a`, `b`",
                "status",
            ),
            (
                "items[0].price",
                "unknown field `price`, expected `quantity`",
                "items[0].price",
            ),
            (
                "items[0]",
                "unknown field `price`, expected `quantity`",
                "items[0].price",
            ),
            (
                "items[0].quantity",
                "invalid type: string \"x\", expected i32",
                "items[0].quantity",
            ),
            (".", "invalid type: null", "body"),
        ] {
            assert_eq!(field_of(field_error(path.into(), message.into())).0, field);
        }
        let (_, message) = field_of(field_error(
            ".".into(),
            "unknown field `x`, expected one of `a`".into(),
        ));
        assert_eq!(message, "is not an accepted field");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        a: i32,
    }

    #[test]
    fn json_bodies_are_checked_for_syntax_before_shape_in_one_pass() {
        let status = |body: &str| match json_object::<Body>(body.as_bytes()) {
            Ok(_) => "ok".to_string(),
            Err(ApiError::BadRequest(m)) => format!("400 {m}"),
            Err(e @ ApiError::Validation { .. }) => {
                let (field, message) = field_of(e);
                format!("422 {field}: {message}")
            }
            Err(other) => format!("{other:?}"),
        };
        assert_eq!(status(" {\"a\": 1} \n"), "ok");
        assert!(status("{\"a\": 1} x").starts_with("400 Malformed JSON: trailing"));
        // The shape error comes first in the stream, the syntax error wins.
        assert!(status("{\"b\": 1} x").starts_with("400 Malformed JSON"));
        assert!(status("{\"a\": 1").starts_with("400 Malformed JSON: EOF"));
        assert!(status("").starts_with("400 Malformed JSON"));
        assert!(status("[1").starts_with("400 Malformed JSON"));
        assert_eq!(status("[1]"), "422 body: must be a JSON object");
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(status(&deep).starts_with("400 Malformed JSON: recursion limit"));
        let deep_field = format!("{{\"a\": {deep}}}");
        assert!(status(&deep_field).starts_with("400 Malformed JSON: recursion limit"));
        assert_eq!(status("{}"), "422 a: missing field `a`");
        assert_eq!(
            status("{\"a\": \"x\"}"),
            "422 a: invalid type: string \"x\", expected i32"
        );
        assert_eq!(
            status("{\"a\": 1, \"z\": 2}"),
            "422 z: unknown field `z`, expected `a`"
        );
    }
}
