//! okapi's HTTP API (axum): strings and blocks by key.
//!
//! - `GET /v1/{namespace}/{key}` — the bytes; `Range` (single → 206 with
//!   `Content-Range`, several → `multipart/byteranges`, none satisfiable → 416),
//!   `ETag` (the log index of the key's last change), `If-None-Match` (304),
//!   `If-Match` (412). `HEAD` gives the same headers without the body.
//! - `PUT` — without `Content-Range` the body becomes a string (`If-None-Match: *`:
//!   only if absent); with `Content-Range: bytes a-b/total` it is written at `a` into a
//!   block (created with length `total` when the key is absent) or a string
//!   (SETRANGE). `If-Match` makes it a compare-and-set, checked when the write applies.
//! - `DELETE` — 204, or 404 when absent; `If-Match` as for PUT.
//! - `/health`, `/ready` (503 while the dataset loads).
//!
//! Every request first passes `guard`: protected mode, the password (when one is
//! set: `Authorization: Bearer <password>` or Basic `default:<password>`), and the
//! loading state.
//!
//! Bodies stream both ways: a GET reads a copy-on-write view of the value taken when
//! the request arrived (its pages are shared, not copied), so a long download never
//! mixes two versions and never holds the engine lock; a block PUT is written in 1 MiB
//! ops as the body arrives, so no request buffers a whole GiB.

mod guard;
mod handlers;
pub mod range;

use axum::Router;
use axum::routing::get;
use okapi_server::Service;
use tokio::net::TcpListener;

/// Serves the API on `listener` until the node shuts down.
pub async fn serve(listener: TcpListener, service: Service) {
    let stop = service.clone();
    let app = router(service).into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.shutdown().await })
        .await
    {
        tracing::error!(error = %e, "HTTP server stopped");
    }
}

/// The routes.
pub fn router(service: Service) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(|| async { "ready\n" }))
        .route(
            "/v1/{namespace}/{*key}",
            get(handlers::get_value)
                .put(handlers::put_value)
                .delete(handlers::delete_value),
        )
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            guard::guard,
        ))
        .with_state(service)
}
