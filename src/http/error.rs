//! The one error type of the HTTP layer, and extractors whose rejections use it.
//!
//! Every error leaves as `{"error": {"code", "message"}}` (plus `"field"` for invalid input) with
//! one status per kind. Internal errors are logged once here and answered with a generic message,
//! so no database detail leaks to clients.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::contract::{Refusal, RoomError};
use crate::domain::DomainError;
use crate::store::StoreError;

/// An HTTP error answer.
#[derive(Debug)]
pub struct ApiError {
    /// Status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: Cow<'static, str>,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<Cow<'static, str>>,
    /// Every problem, when there are many (the rows of a CSV file).
    pub details: Option<serde_json::Value>,
}

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `room_not_found`, `invalid_input`, `forbidden`.
    pub code: String,
    /// Human-readable explanation naming the field or rule.
    pub message: String,
    /// The request field at fault, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem, when there are many (for a CSV file: `[{row, column, message}]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    /// Any status and code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
            details: None,
        }
    }

    /// 422 for a field that breaks its rule.
    pub fn invalid(field: &'static str, message: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_input".into(),
            message: format!("{field}: {message}"),
            field: Some(field.into()),
            details: None,
        }
    }

    /// 404 for a thing that does not exist (or that the caller may not know of). The code is the
    /// thing's name in snake case: `breakout room` gives `breakout_room_not_found`.
    pub fn not_found(what: &'static str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{}_not_found", what.replace(' ', "_")),
            format!("{what} not found"),
        )
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 500; the detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into_owned(),
                message: self.message,
                field: self.field.map(Cow::into_owned),
                details: self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError {
            status: StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: r.code.into(),
            message: r.message,
            field: r.field.map(Cow::Owned),
            details: r.details,
        }
    }
}

/// Domain, store and room errors answer as [`Refusal`] says (one mapping for HTTP and for the
/// answers between nodes).
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        Refusal::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Refusal::from(e).into()
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        Refusal::from(e).into()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
            _ => "invalid_json",
        };
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                "the request body is larger than the configured limit".to_owned()
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "send the body as JSON with Content-Type: application/json".to_owned()
            }
            _ => r.body_text(),
        };
        ApiError::new(status, code, message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

/// A JSON body read from bytes the handler already has; invalid JSON is a 422, and so is a body
/// that is not a JSON object.
pub fn json_from<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    object_first(body)?;
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("body: {e}"),
        )
    })
}

/// Refuses a body that is not a JSON object: serde would read an array as the struct's fields
/// in order (`["Room", true]`), which no client means and the API does not document.
fn object_first(body: &[u8]) -> Result<(), ApiError> {
    match body.trim_ascii_start().first() {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "body: expected a JSON object",
        )),
    }
}

/// An optional JSON body: nothing, white space or `null` gives `T::default()`.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        Ok(T::default())
    } else {
        json_from(body)
    }
}

/// A JSON body whose rejections are [`ApiError`]s; it must be a JSON object.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // axum's extractor checks the content type and the size and that it is JSON at all.
        let axum::Json(raw) =
            axum::Json::<Box<serde_json::value::RawValue>>::from_request(req, state).await?;
        object_first(raw.get().as_bytes())?;
        // axum's reader names the field at fault (`name: invalid type …`).
        let axum::Json(value) = axum::Json::<T>::from_bytes(raw.get().as_bytes())?;
        Ok(ApiJson(value))
    }
}

/// A query string whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The path's named parameters, parsed one by one so that a bad one is named in the error.
pub struct PathIds(HashMap<String, String>);

impl PathIds {
    /// Parses parameter `name`; a value that does not parse is a 400 naming it.
    pub fn get<T: FromStr>(&self, name: &'static str) -> Result<T, ApiError> {
        let raw = self.0.get(name).map(String::as_str).unwrap_or_default();
        raw.parse().map_err(|_| ApiError {
            field: Some(name.into()),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                format!("{name}: {raw:?} is not a valid id"),
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Path(map) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))?;
        Ok(PathIds(map))
    }
}
