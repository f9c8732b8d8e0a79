//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations (the
//! router and the document come from the same list, so they cannot drift apart).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};

/// The document served at `/openapi.json`.
pub fn document() -> OpenApi {
    let (_, mut openapi) = super::routes().split_for_parts();
    openapi.info = InfoBuilder::new()
        .title("pushgate")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Push-notification dispatcher with device-token quarantine. Every call but \
             /healthz, /readyz and /openapi.json needs `Authorization: Bearer <key>`; an app \
             key reaches only its own app. Errors are `{\"error\": {\"code\", \"message\", \
             \"field\"}}`.",
        ))
        .build();
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    openapi
}
