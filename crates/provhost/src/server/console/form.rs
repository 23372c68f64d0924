//! A posted console form: `application/x-www-form-urlencoded`, read within the server's body
//! limit and deadline, from a signed-in operator, and carrying the session's CSRF token in its
//! `csrf` field. A form without it, or with another session's, is refused 403 before its handler
//! runs: every `POST` of the console takes a [`SignedForm`], or reads an [`Upload`] (a form with a
//! file, `multipart/form-data`) after checking the scope it needs, which checks the token the same way.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header};

use super::operator::Operator;
use super::refused::Refused;
use super::session::same;
use crate::server::AppState;

/// The name of the field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// A form's fields, in the order sent; a name may repeat (checkboxes).
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Decodes an URL-encoded body.
    pub fn decode(body: &[u8]) -> Self {
        let text = |part: &str| {
            let spaced = part.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
        };
        let body = String::from_utf8_lossy(body);
        Fields(
            body.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (text(name), text(value))
                })
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
    }

    /// The value of `name`, which the form must have.
    pub fn required(&self, name: &str) -> Result<&str, Refused> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| Refused::bad_request(format!("the form has no {name}")))
    }
}

/// Reads a form body within the server's limit and deadline.
pub async fn read(request: Request, app: &Arc<AppState>) -> Result<Fields, Refused> {
    let kind = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !kind.starts_with("application/x-www-form-urlencoded") {
        return Err(Refused::bad_request(format!(
            "a console form is sent as application/x-www-form-urlencoded, not '{kind}'"
        )));
    }
    let deadline = app.http.body_timeout;
    let body = tokio::time::timeout(deadline, Bytes::from_request(request, app))
        .await
        .map_err(|_| Refused::bad_request("the form did not arrive whole in time; send it again"))?
        .map_err(|e| Refused::bad_request(format!("the form could not be read: {e}")))?;
    Ok(Fields::decode(&body))
}

/// A form a signed-in operator posted with the session's CSRF token.
pub struct SignedForm {
    /// Who posted it.
    pub operator: Operator,
    /// Its fields.
    pub fields: Fields,
}

impl FromRequest<Arc<AppState>> for SignedForm {
    type Rejection = Refused;

    async fn from_request(request: Request, app: &Arc<AppState>) -> Result<Self, Refused> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, app).await?;
        let fields = read(Request::from_parts(parts, body), app).await?;
        signed(&operator, &fields)?;
        Ok(SignedForm { operator, fields })
    }
}

/// Refuses 403 unless `fields` carry the CSRF token of the operator's session.
fn signed(operator: &Operator, fields: &Fields) -> Result<(), Refused> {
    match fields.get(CSRF_FIELD) {
        Some(token) if same(token, &operator.csrf) => Ok(()),
        _ => {
            tracing::warn!(key_id = %operator.key.id, "a console form without this session's CSRF token was refused");
            Err(Refused::forbidden(
                "the form does not carry this session's CSRF token; reload the page and send it from there",
            ))
        }
    }
}

/// A form with a file (`multipart/form-data`) that the signed-in operator posted with the
/// session's CSRF token: its text fields, and the file of its one file field.
pub struct Upload {
    /// Its text fields.
    pub fields: Fields,
    /// The file's bytes; empty when none was chosen.
    pub file: Bytes,
}

/// Reads `multipart` within the route's body limit (`too_large` answers a larger one, before
/// anything is done with it) and the server's deadline, and checks its CSRF token.
pub async fn upload(
    operator: &Operator,
    mut multipart: Multipart,
    app: &Arc<AppState>,
    too_large: impl Fn() -> Refused,
) -> Result<Upload, Refused> {
    let unreadable = |e: MultipartError| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => Refused::bad_request(format!("the form could not be read: {e}")),
    };
    let read = async {
        let (mut fields, mut file) = (Vec::new(), Bytes::new());
        while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
            let (name, is_file) = (field.name().unwrap_or_default().to_owned(), field.file_name().is_some());
            let value = field.bytes().await.map_err(unreadable)?;
            if is_file {
                file = value;
            } else {
                fields.push((name, String::from_utf8_lossy(&value).into_owned()));
            }
        }
        Ok::<_, Refused>(Upload { fields: Fields(fields), file })
    };
    let upload = tokio::time::timeout(app.http.body_timeout, read)
        .await
        .map_err(|_| Refused::bad_request("the form did not arrive whole in time; send it again"))??;
    signed(operator, &upload.fields)?;
    Ok(upload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_with_repeats_and_escapes() {
        let fields = Fields::decode(b"csrf=ab&id=1&id=2&reason=too+many%21&empty=&flag");
        assert_eq!(fields.get(CSRF_FIELD), Some("ab"));
        assert_eq!(fields.all("id"), ["1", "2"]);
        assert_eq!(fields.get("reason"), Some("too many!"));
        assert_eq!(fields.get("flag"), Some(""));
        assert!(fields.required("empty").is_err());
        assert!(fields.required("missing").is_err());
        assert_eq!(fields.required("id").unwrap(), "1");
    }
}
