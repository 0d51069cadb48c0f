//! Extractors: who is calling (from the bearer token) with the request id,
//! and JSON bodies whose rejections use the API's error shape.

use super::Api;
use super::error::ApiError;
use crate::tenant::Principal;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tower_http::request_id::RequestId;

/// An authenticated caller and the id of its request.
pub struct Caller {
    /// Who is calling.
    pub principal: Principal,
    /// The request's id.
    pub request_id: String,
}

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or_default()
            .to_string();
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "send `Authorization: Bearer <admin token or API key>`",
                )
            })?;
        let principal = api.control.authenticate(token)?;
        // Checked here, before any body is read, so that a caller without
        // the right learns nothing from validation errors.
        if let Ok(params) = RawPathParams::from_request_parts(parts, api).await
            && let Some((_, tenant)) = params.iter().find(|(name, _)| *name == "tenant")
        {
            principal.require_tenant(tenant)?;
        }
        Ok(Self {
            principal,
            request_id,
        })
    }
}

/// A caller that must be the admin.
pub struct AdminCaller(pub Caller);

impl FromRequestParts<Api> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, api).await?;
        caller.principal.require_admin()?;
        Ok(Self(caller))
    }
}

/// A JSON body. Malformed JSON is a 400, JSON of the wrong shape a 422, a
/// missing content type a 415; each says what is wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Api> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, api: &Api) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, api).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                let code = match &rejection {
                    _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
                    JsonRejection::JsonSyntaxError(_) => "malformed_json",
                    JsonRejection::JsonDataError(_) => "invalid",
                    JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
                    _ => "bad_request",
                };
                Err(ApiError::new(rejection.status(), code, rejection.body_text()))
            }
        }
    }
}
