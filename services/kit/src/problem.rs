//! RFC 9457 problem details: the one error shape every Dzinza endpoint returns.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value};

/// Media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Base of the `type` URI; the last segment is the stable, snake_case problem code.
const TYPE_BASE: &str = "https://dzinza.io/problems/";

/// One invalid input field, as listed in a 422 problem.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a JSON pointer-like dotted path (`names.0.given`).
    pub field: String,
    /// What is wrong with it, for a person to read.
    pub message: String,
}

/// An RFC 9457 problem: status, stable code, human title and detail, optional extensions.
///
/// Internal causes are logged where the problem is created and never put into the body.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    title: String,
    detail: Option<String>,
    extensions: Map<String, Value>,
    headers: HeaderMap,
}

/// The JSON body of a problem response, as documented in the OpenAPI description.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// URI naming the kind of problem; its last segment equals `code`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence, when there is something useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable snake_case code that clients can switch on.
    pub code: String,
}

impl Problem {
    /// A problem with a status, a stable code and a title.
    pub fn new(status: StatusCode, code: &'static str, title: impl Into<String>) -> Self {
        Self {
            status,
            code,
            title: title.into(),
            detail: None,
            extensions: Map::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Adds a detail sentence about this occurrence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an extension member to the body.
    pub fn with_extension(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header (e.g. `Retry-After`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// 400: the request could not be understood.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", "Bad request").with_detail(detail)
    }

    /// 401: credentials missing or invalid.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
        )
        .with_detail(detail)
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"dzinza\", error=\"invalid_token\""),
        )
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").with_detail(detail)
    }

    /// 404: nothing at this address (or nothing the caller may see).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found").with_detail(detail)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict").with_detail(detail)
    }

    /// 413: the body is larger than this route accepts.
    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request body too large",
        )
        .with_detail(format!("This route accepts at most {limit} bytes."))
        .with_extension("limit_bytes", limit)
    }

    /// 422: the body is well-formed but some fields are invalid.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid.", many.len()),
        };
        let list = serde_json::to_value(&errors).unwrap_or(Value::Null);
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
        )
        .with_detail(detail)
        .with_extension("errors", list)
    }

    /// 429: too many requests; come back after `retry_after_secs`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        )
        .with_detail(format!("Retry after {retry_after_secs} seconds."))
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))
    }

    /// 503: a dependency is unavailable; retry later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service unavailable",
        )
        .with_detail(detail)
    }

    /// 500: logs the cause with the request's span and returns a body that reveals nothing.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
        .with_detail("Something went wrong on our side; it has been logged.")
    }

    fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::from(format!("{TYPE_BASE}{}", self.code)),
        );
        body.insert("title".into(), Value::from(self.title.clone()));
        body.insert("status".into(), Value::from(self.status.as_u16()));
        if let Some(detail) = &self.detail {
            body.insert("detail".into(), Value::from(detail.clone()));
        }
        body.insert("code".into(), Value::from(self.code));
        for (k, v) in &self.extensions {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(body)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.headers_mut().extend(self.headers);
        response
    }
}

/// Turns axum's JSON body rejections into 400/415/422 problems instead of plain text.
impl From<axum::extract::rejection::JsonRejection> for Problem {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        match rejection {
            R::JsonDataError(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            )
            .with_detail(e.body_text()),
            R::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            )
            .with_detail("Send the body as application/json."),
            other => Self::bad_request(other.body_text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(p: Problem) -> (StatusCode, HeaderMap, Value) {
        let resp = p.into_response();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn renders_rfc9457_with_code_and_content_type() {
        let (status, headers, body) = render(Problem::not_found("no tree 42")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(body["type"], "https://dzinza.io/problems/not_found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["detail"], "no tree 42");
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_the_cause() {
        let cause = std::io::Error::other("password=hunter2 at db:5432");
        let (status, _, body) = render(Problem::internal(&cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn validation_lists_fields_and_rate_limit_sets_retry_after() {
        let (status, _, body) = render(Problem::validation(vec![FieldError {
            field: "email".into(),
            message: "is not an email address".into(),
        }]))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["field"], "email");
        assert_eq!(body["detail"], "email: is not an email address");

        let (status, headers, _) = render(Problem::too_many_requests(7)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "7");
    }

    #[tokio::test]
    async fn extensions_cannot_override_standard_members() {
        let (_, _, body) = render(Problem::forbidden("no").with_extension("status", 200)).await;
        assert_eq!(body["status"], 403);
    }
}
