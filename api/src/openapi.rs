//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use orderflow_shared::domain::FieldError;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder,
        Type,
        security::{Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme},
    },
};
use utoipa_axum::router::OpenApiRouter;

use crate::{error::ErrorBody, middleware::rate_limit, routes, state::AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OrderFlow API",
        description = "Customers, products and orders. Authenticate with `POST /api/v1/auth/login` \
                       (or the Authorize button), then send `Authorization: Bearer <token>`. \
                       Every error is `{detail, code, request_id}` (422 adds `errors`).",
        license(name = "MIT")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody, FieldError)),
    tags(
        (name = "auth", description = "Registration, login and tokens"),
        (name = "users", description = "User administration (admin)"),
        (name = "customers", description = "Customer records"),
        (name = "products", description = "Product catalogue"),
        (name = "orders", description = "Orders: creation with Idempotency-Key, reads, transitions"),
        (name = "admin", description = "Audit log and dead jobs (admin)"),
    )
)]
struct ApiDoc;

/// Bearer JWTs, obtainable through the OAuth2 password flow Swagger UI's "Authorize" uses.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/api/v1/auth/login",
                Scopes::new(),
            ))])),
        );
    }
}

/// Every `/api/v1` route, with its OpenAPI entry and its rate limit: the credential routes
/// per client IP, the rest per user (or per IP without a valid token).
pub fn api_router(state: &AppState) -> OpenApiRouter<AppState> {
    let credentials = routes::auth::credentials_router().layer(
        axum::middleware::from_fn_with_state(state.clone(), rate_limit::credentials),
    );
    let per_caller = OpenApiRouter::new()
        .merge(routes::auth::session_router())
        .merge(routes::users::router())
        .merge(routes::customers::router())
        .merge(routes::products::router())
        .merge(routes::orders::router())
        .merge(routes::admin::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::per_caller,
        ));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(credentials)
        .merge(per_caller)
}

/// What every `/api/v1` operation can answer because of the layers in front of its handler,
/// written into the document once here rather than on each handler: the `RateLimit-*` fields
/// on every response (`middleware/rate_limit.rs`), 429 with `Retry-After` when over a quota,
/// and 503 when the database is unreachable or the request timed out. Responses a handler
/// documents itself keep their description.
pub fn document_layers(spec: &mut openapi::OpenApi) {
    for (path, item) in spec.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            responses.entry("429".into()).or_insert_with(|| {
                error_response("Over this client's or user's request quota (see Retry-After)")
            });
            responses.entry("503".into()).or_insert_with(|| {
                error_response("Database unreachable or request timed out; try again")
            });
            for (status, response) in responses.iter_mut() {
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
