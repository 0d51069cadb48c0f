//! Extractors: who is calling, with the request id, and JSON bodies whose
//! rejections use the API's error shape.

use super::Api;
use super::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use omnify_control::tenant::Principal;
use serde::de::DeserializeOwned;

/// An authenticated caller and the id of its request, as
/// [`access::authorize`](super::access) checked it against the route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling.
    pub principal: Principal,
    /// The request's id.
    pub request_id: String,
}

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _api: &Api) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "this route takes a caller but its access rule is public",
            )
        })
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
