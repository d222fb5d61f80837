//! The checks every request passes before a route sees it: protected mode (403 for a
//! client from another host while no password is set), the password (401 with
//! `WWW-Authenticate` unless `Authorization` carries it, as `Bearer <password>` or
//! Basic `default:<password>`), and loading (503 on data routes until the dataset is
//! in memory). `/health` answers whatever the state; `/ready` needs no password but
//! answers 503 while loading.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use okapi_server::Service;

use crate::handlers::respond;

/// What `WWW-Authenticate` offers on a 401.
const CHALLENGE: &str = "Basic realm=\"okapi\", Bearer realm=\"okapi\"";

/// Runs the checks, then the route.
pub(crate) async fn guard(
    State(service): State<Service>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if service.protected_mode_refuses(peer.ip()) {
        tracing::warn!(%peer, "HTTP client from another host refused: protected mode");
        return respond(
            StatusCode::FORBIDDEN,
            okapi_server::access::PROTECTED_MODE_DENIED,
        );
    }
    let path = request.uri().path();
    if path == "/health" {
        return next.run(request).await;
    }
    if path == "/ready" {
        return if service.loading() {
            loading()
        } else {
            next.run(request).await
        };
    }
    if service.password_required() && !authorized(&service, request.headers()) {
        let mut response = respond(StatusCode::UNAUTHORIZED, "authentication required");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(CHALLENGE),
        );
        return response;
    }
    if service.loading() {
        return loading();
    }
    next.run(request).await
}

fn loading() -> Response {
    let mut response = respond(StatusCode::SERVICE_UNAVAILABLE, okapi_server::LOADING_ERROR);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Whether the request's `Authorization` header carries valid credentials.
fn authorized(service: &Service, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    match credentials(value) {
        Some((user, password)) => service.login(user.as_deref(), &password),
        None => false,
    }
}

/// The user (`None` for a bearer token) and password in an `Authorization` value.
fn credentials(value: &str) -> Option<(Option<Vec<u8>>, Vec<u8>)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some((None, rest.as_bytes().to_vec()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        return Some((
            Some(decoded[..colon].to_vec()),
            decoded[colon + 1..].to_vec(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_credentials_are_read() {
        assert_eq!(
            credentials("Bearer s3cret"),
            Some((None, b"s3cret".to_vec()))
        );
        // "default:pa:ss" — a password may hold colons, the user may not.
        assert_eq!(
            credentials("Basic ZGVmYXVsdDpwYTpzcw=="),
            Some((Some(b"default".to_vec()), b"pa:ss".to_vec()))
        );
        assert_eq!(credentials("Basic !!!"), None);
        assert_eq!(credentials("Basic bm9jb2xvbg=="), None, "no colon");
        assert_eq!(credentials("Digest abc"), None);
        assert_eq!(credentials("Bearer"), None);
    }
}
