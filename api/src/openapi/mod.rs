//! The OpenAPI 3.1 document, generated from the handlers' annotations, then completed once
//! for every operation: what the layers in front of the handlers answer (`layers.rs`), the
//! string and number rules of the domain functions (`constraints.rs`), and the links from
//! each creation to what can be done with the new resource next (`links.rs`).

mod constraints;
mod layers;
mod links;

use orderflow_shared::domain::FieldError;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{
        Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
    },
};
use utoipa_axum::router::OpenApiRouter;

use crate::{error::ErrorBody, middleware::rate_limit, routes, state::AppState};

/// The operations of one path.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// Completes the generated document (see the module doc).
pub fn complete(spec: &mut utoipa::openapi::OpenApi) {
    layers::document(spec);
    constraints::apply(spec);
    links::add(spec);
}

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
