//! What the OpenAPI document tells API users beyond the handlers' and
//! types' own docs: the role each route needs (from the one table in
//! `access`), raw bodies as bytes, and plain descriptions of the request
//! bodies whose types live outside the API layer (their own docs speak to
//! the host's developers).

use super::access::{Access, ROUTES};
use omnify_control::tenant::Role;
use utoipa::Modify;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Content, OpenApi, PathItem, RefOr};

/// Descriptions, for API users, of schemas defined outside the API layer.
const SCHEMA_DESCRIPTIONS: &[(&str, &str)] = &[
    (
        "NewTenant",
        "The body of `POST /v1/tenants`: the new tenant's id, name and quotas.",
    ),
    (
        "NewTrustedKey",
        "The body of `POST /v1/publishers`: a publisher's ed25519 public key to trust for its \
         packages.",
    ),
    (
        "NameTransfer",
        "The body of `PUT /v1/plugins/{plugin}/owner`: the publisher that owns the plugin name \
         from now on.",
    ),
    (
        "NewJob",
        "The body of `POST /v1/tenants/{tenant}/jobs`: which plugin to run, when, and what each \
         run syncs (a connector) or runs (an agent).",
    ),
    (
        "SyncRequest",
        "The body of `POST /v1/tenants/{tenant}/plugins/{plugin}/sync`: which streams, in which \
         mode, in batches of what size. `{}` syncs every stream incrementally where it can.",
    ),
    (
        "AutonomyUpdate",
        "The body of `PUT /v1/tenants/{tenant}/autonomy`: the tenant's new autonomy level and \
         guardrails.",
    ),
    (
        "Role",
        "A key's role. Each role may do everything the roles before it may: `viewer`, then \
         `operator`, then `expert`; the admin token may do everything. Each route's description \
         names the least role it needs.",
    ),
];

/// Descriptions, for API users, of properties of schemas defined outside the
/// API layer whose meaning the API changes.
const PROPERTY_DESCRIPTIONS: &[(&str, &str, &str)] = &[(
    "RecordPage",
    "next",
    "An opaque, URL-safe token: pass it unchanged as `after` for the next page. None at the end.",
)];

/// Adds the role each route needs to its description, describes
/// `application/octet-stream` bodies as bytes, and replaces the
/// descriptions in [`SCHEMA_DESCRIPTIONS`].
pub(super) struct ForApiUsers;

impl Modify for ForApiUsers {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let Some((_, _, access)) = ROUTES.iter().find(|(m, p, _)| *m == method && p == path) else {
                    continue;
                };
                let needs = needs(*access, path.contains("{tenant}"));
                operation.description = Some(match operation.description.take().filter(|d| !d.is_empty()) {
                    Some(description) => format!("{description}\n\n{needs}"),
                    None => needs,
                });
                let request = operation
                    .request_body
                    .iter_mut()
                    .filter_map(|body| match body {
                        RefOr::T(body) => Some(body),
                        RefOr::Ref(_) => None,
                    })
                    .flat_map(|body| body.content.iter_mut());
                let responses = operation
                    .responses
                    .responses
                    .values_mut()
                    .filter_map(|response| match response {
                        RefOr::T(response) => Some(response),
                        RefOr::Ref(_) => None,
                    })
                    .flat_map(|response| response.content.iter_mut());
                for (content_type, content) in request.chain(responses) {
                    if content_type == "application/octet-stream"
                        && let RefOr::T(content) = content
                    {
                        describe_as_bytes(content);
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            for (name, description) in SCHEMA_DESCRIPTIONS {
                let schema = components.schemas.get_mut(*name);
                let description = Some(description.to_string());
                match schema {
                    Some(RefOr::T(Schema::Object(object))) => object.description = description,
                    Some(RefOr::T(Schema::OneOf(one_of))) => one_of.description = description,
                    _ => tracing::warn!(
                        schema = name,
                        "the OpenAPI document has no such schema to describe"
                    ),
                }
            }
            for (name, property, description) in PROPERTY_DESCRIPTIONS {
                match components.schemas.get_mut(*name) {
                    Some(RefOr::T(Schema::Object(object))) => match object.properties.get_mut(*property) {
                        Some(RefOr::T(Schema::Object(field))) => {
                            field.description = Some(description.to_string())
                        }
                        Some(RefOr::T(Schema::OneOf(field))) => {
                            field.description = Some(description.to_string())
                        }
                        _ => tracing::warn!(
                            schema = name,
                            property,
                            "the OpenAPI document has no such property"
                        ),
                    },
                    _ => tracing::warn!(schema = name, "the OpenAPI document has no such schema"),
                }
            }
        }
    }
}

/// The operations of a path, with their method as the access table spells
/// it.
fn operations(
    item: &mut PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("POST", item.post.as_mut()),
        ("PUT", item.put.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("PATCH", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

/// What a route with `access` asks of its caller, in words.
fn needs(access: Access, per_tenant: bool) -> String {
    let role = match access {
        Access::Public => {
            return "Needs no credentials: the connector authenticates the delivery itself.".into();
        }
        Access::Least(Role::Admin) => return "Needs the admin token.".into(),
        Access::Least(role) => role.as_str(),
    };
    let whose = if per_tenant {
        "a key of this tenant"
    } else {
        "any API key"
    };
    format!("Needs {whose} with the role `{role}` or above, or the admin token.")
}

/// A body of raw bytes: `type: string, format: binary`.
fn describe_as_bytes(content: &mut Content) {
    let bytes = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        .build();
    content.schema = Some(RefOr::T(Schema::Object(bytes)));
}
