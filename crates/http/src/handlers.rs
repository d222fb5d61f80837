//! The request handlers of `/v1/{namespace}/{key}`.

use std::collections::VecDeque;
use std::future::Future;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use okapi_engine::blocks::{BlockOp, MAX_OP_BYTES};
use okapi_engine::keys::KeyOp;
use okapi_engine::strings::{SetCond, SetExpire, StringOp};
use okapi_engine::{EngineError, Op, OpKind, Reply, Txn, TxnItem, WatchCheck, WatchStamp};
use okapi_server::service::{Stat, ValueKind, ValueView, Viewed};
use okapi_server::{LogError, Service};
use okapi_types::Namespace;

use crate::range::{ByteRange, RangeRequest, parse_content_range, parse_range};

/// Largest string body a PUT accepts (a string is held whole in memory).
const MAX_STRING_BODY: usize = 512 << 20;
/// Block writes in flight per PUT while the body streams in.
const WRITES_IN_FLIGHT: usize = 8;

type Reject = Box<Response>;

/// A reply with no body and no body headers (204, and 201 whose news is the status).
fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

pub(crate) fn respond(status: StatusCode, message: &str) -> Response {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn reject(status: StatusCode, message: &str) -> Reject {
    Box::new(respond(status, message))
}

fn namespace(service: &Service, ns: &str) -> Result<Namespace, Reject> {
    match ns.parse::<u32>() {
        Ok(n) if n < service.databases() => Ok(Namespace(n)),
        _ => Err(reject(
            StatusCode::NOT_FOUND,
            &format!("no namespace '{ns}'"),
        )),
    }
}

fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// True when the header (`*` or a list of entity tags, weak ones compared weakly, as
/// `If-None-Match` does) names `current`.
fn etag_listed(header: &HeaderValue, current: &str) -> bool {
    header.to_str().is_ok_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
    })
}

fn log_failure(e: LogError) -> Reject {
    let status = match e {
        LogError::OverMemory => StatusCode::INSUFFICIENT_STORAGE,
        LogError::Refused(_) | LogError::NotLeader(_) => StatusCode::SERVICE_UNAVAILABLE,
        // 504: the request may have taken effect, as a gateway timeout may.
        LogError::Unknown(_) => StatusCode::GATEWAY_TIMEOUT,
    };
    reject(status, &e.to_string())
}

fn engine_failure(reply: &Reply) -> Reject {
    match reply {
        Reply::Error(e @ EngineError::WrongType) => reject(StatusCode::CONFLICT, &e.to_string()),
        Reply::Error(e) => reject(StatusCode::BAD_REQUEST, &e.to_string()),
        other => reject(
            StatusCode::BAD_REQUEST,
            &format!("unexpected reply {other:?}"),
        ),
    }
}

/// GET and HEAD.
pub(crate) async fn get_value(
    State(service): State<Service>,
    Path((ns, key)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    match serve_get(&service, &ns, &key, &method, &headers) {
        Ok(response) => response,
        Err(e) => *e,
    }
}

fn serve_get(
    service: &Service,
    ns: &str,
    key: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, Reject> {
    let db = namespace(service, ns)?;
    let viewed = service
        .view(db, key.as_bytes())
        .map_err(|e| reject(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?
        .ok_or_else(|| reject(StatusCode::NOT_FOUND, "no such key"))?;
    let (size, kind) = match &viewed.value {
        ValueView::Str(bytes) => (bytes.len() as u64, "string"),
        ValueView::Block(block) => (block.len(), "block"),
        ValueView::Other(kind) => {
            return Err(reject(
                StatusCode::CONFLICT,
                &format!("the key holds a {kind}; only strings and blocks are served as bytes"),
            ));
        }
    };
    let tag = etag(viewed.version);
    if let Some(h) = headers.get(header::IF_MATCH)
        && !etag_listed(h, &tag)
    {
        return Err(reject(
            StatusCode::PRECONDITION_FAILED,
            "If-Match does not match",
        ));
    }
    let mut response = Response::new(Body::empty());
    let out = response.headers_mut();
    out.insert(header::ETAG, header_value(&tag));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert("x-okapi-type", HeaderValue::from_static(kind));
    if let Some(h) = headers.get(header::IF_NONE_MATCH)
        && etag_listed(h, &tag)
    {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    // If-Range with another tag: the whole representation instead of the ranges.
    let range_applies = headers
        .get(header::IF_RANGE)
        .is_none_or(|h| h.to_str().is_ok_and(|t| t.trim() == tag));
    let request = match headers.get(header::RANGE) {
        Some(h) if range_applies => h
            .to_str()
            .map_or(RangeRequest::Whole, |h| parse_range(h, size)),
        _ => RangeRequest::Whole,
    };
    let (status, parts, content_type) = match request {
        RangeRequest::Whole => (
            StatusCode::OK,
            vec![Part::Range(ByteRange {
                first: 0,
                last: size.wrapping_sub(1),
            })],
            "application/octet-stream".to_owned(),
        ),
        RangeRequest::Unsatisfiable => {
            let mut response = respond(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            );
            return Ok(response);
        }
        RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {}-{}/{size}", r.first, r.last)),
            );
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Part::Range(r)],
                "application/octet-stream".to_owned(),
            )
        }
        RangeRequest::Ranges(ranges) => {
            let boundary = format!("okapi-{:016x}", viewed.version);
            let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
            for (i, r) in ranges.iter().enumerate() {
                let lead = if i == 0 { "" } else { "\r\n" };
                parts.push(Part::Literal(Bytes::from(format!(
                    "{lead}--{boundary}\r\nContent-Type: application/octet-stream\r\n\
                     Content-Range: bytes {}-{}/{size}\r\n\r\n",
                    r.first, r.last
                ))));
                parts.push(Part::Range(*r));
            }
            parts.push(Part::Literal(Bytes::from(format!(
                "\r\n--{boundary}--\r\n"
            ))));
            (
                StatusCode::PARTIAL_CONTENT,
                parts,
                format!("multipart/byteranges; boundary={boundary}"),
            )
        }
    };
    // An empty value: no range at all.
    let parts: VecDeque<Part> = parts
        .into_iter()
        .filter(|p| !matches!(p, Part::Range(r) if size == 0 || r.last < r.first))
        .collect();
    let length: u64 = parts.iter().map(Part::len).sum();
    *response.status_mut() = status;
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, header_value(&content_type));
    out.insert(header::CONTENT_LENGTH, header_value(&length.to_string()));
    if *method != Method::HEAD {
        let body = BodyParts {
            viewed,
            parts,
            pending: VecDeque::new(),
        };
        *response.body_mut() = Body::from_stream(futures_util::stream::iter(
            body.map(Ok::<_, std::convert::Infallible>),
        ));
    }
    Ok(response)
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A piece of a response body: fixed bytes (multipart headers) or a range of the value.
enum Part {
    Literal(Bytes),
    Range(ByteRange),
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Literal(b) => b.len() as u64,
            Part::Range(r) => r.len(),
        }
    }
}

/// The body of a GET, produced lazily a chunk at a time from the view.
struct BodyParts {
    viewed: Viewed,
    parts: VecDeque<Part>,
    pending: VecDeque<Bytes>,
}

/// Bytes read from the view per step.
const BODY_CHUNK: u64 = 1 << 20;

impl Iterator for BodyParts {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(piece) = self.pending.pop_front() {
                return Some(piece);
            }
            match self.parts.pop_front()? {
                Part::Literal(bytes) => return Some(bytes),
                Part::Range(r) => {
                    let take = r.len().min(BODY_CHUNK);
                    self.pending.extend(self.viewed.read(r.first, take));
                    if take < r.len() {
                        self.parts.push_front(Part::Range(ByteRange {
                            first: r.first + take,
                            last: r.last,
                        }));
                    }
                }
            }
        }
    }
}

/// Submits `kind` for `key`; with `If-Match` as a transaction that applies only if the
/// key's version is still the one matched (checked when it applies, so two racing
/// compare-and-sets cannot both win). `Err` carries the response to send instead.
fn submit(
    service: &Service,
    db: Namespace,
    key: &[u8],
    if_match: Option<&HeaderValue>,
    kind: OpKind,
) -> Result<impl Future<Output = Result<Reply, Reject>> + use<>, Reject> {
    let Some(if_match) = if_match else {
        let pending = service.write(key, Op { db, kind });
        return Ok(futures_util::future::Either::Left(async move {
            pending.await.map_err(log_failure)
        }));
    };
    let current = stat(service, db, key)?.map(|s| s.version);
    let Some(version) = current.filter(|&v| etag_listed(if_match, &etag(v))) else {
        return Err(reject(
            StatusCode::PRECONDITION_FAILED,
            "If-Match does not match",
        ));
    };
    let txn = Txn {
        checks: vec![WatchCheck {
            db,
            key: Bytes::copy_from_slice(key),
            stamp: WatchStamp::Present(version),
        }],
        items: vec![TxnItem::Write(Op { db, kind })],
    };
    let pending = service.write(
        key,
        Op {
            db,
            kind: OpKind::Txn(txn),
        },
    );
    Ok(futures_util::future::Either::Right(async move {
        match pending.await.map_err(log_failure)? {
            Reply::NilArray => Err(reject(
                StatusCode::PRECONDITION_FAILED,
                "the key changed: If-Match does not match",
            )),
            Reply::Array(mut replies) if replies.len() == 1 => Ok(replies.remove(0)),
            other => Ok(other),
        }
    }))
}

/// PUT.
pub(crate) async fn put_value(
    State(service): State<Service>,
    Path((ns, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match put(&service, &ns, key.as_bytes(), &headers, body).await {
        Ok(response) => response,
        Err(e) => *e,
    }
}

async fn put(
    service: &Service,
    ns: &str,
    key: &[u8],
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Reject> {
    let db = namespace(service, ns)?;
    let if_match = headers.get(header::IF_MATCH);
    let only_if_absent = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|h| h.as_bytes().trim_ascii() == b"*");
    let key_bytes = Bytes::copy_from_slice(key);
    let Some(content_range) = headers.get(header::CONTENT_RANGE) else {
        let value = string_body(body).await?;
        let op = StringOp::Set {
            key: key_bytes,
            value,
            cond: if only_if_absent {
                SetCond::IfAbsent
            } else {
                SetCond::Always
            },
            get: false,
            expire: SetExpire::Clear,
        };
        return match submit(service, db, key, if_match, OpKind::Str(op))?.await? {
            Reply::Ok => Ok(empty(StatusCode::NO_CONTENT)),
            Reply::Nil => Err(reject(StatusCode::PRECONDITION_FAILED, "the key exists")),
            other => Err(engine_failure(&other)),
        };
    };
    let range = content_range
        .to_str()
        .ok()
        .and_then(parse_content_range)
        .ok_or_else(|| {
            reject(
                StatusCode::BAD_REQUEST,
                "Content-Range must be 'bytes first-last/total' or 'bytes first-last/*'",
            )
        })?;
    match stat(service, db, key)?.map(|s| s.kind) {
        None => {
            let Some(total) = range.total else {
                return Err(reject(
                    StatusCode::NOT_FOUND,
                    "no such key; give the total length ('bytes a-b/total') to create a block",
                ));
            };
            if if_match.is_some() {
                return Err(reject(StatusCode::PRECONDITION_FAILED, "no such key"));
            }
            let create = BlockOp::Create {
                key: key_bytes.clone(),
                len: total,
                init: Bytes::new(),
                nx: true,
            };
            match service
                .write(
                    &key_bytes,
                    Op {
                        db,
                        kind: OpKind::Block(create),
                    },
                )
                .await
                .map_err(log_failure)?
            {
                Reply::Ok => {}
                Reply::Nil => {
                    return Err(reject(
                        StatusCode::CONFLICT,
                        "the key was created meanwhile",
                    ));
                }
                other => return Err(engine_failure(&other)),
            }
            write_block(service, db, key_bytes, range.range, None, body).await?;
            Ok(empty(StatusCode::CREATED))
        }
        Some(ValueKind::Block(len)) => {
            if only_if_absent {
                return Err(reject(StatusCode::PRECONDITION_FAILED, "the key exists"));
            }
            if range.total.is_some_and(|t| t != len) || range.range.last >= len {
                let mut response = respond(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    &format!("the block is {len} bytes"),
                );
                response.headers_mut().insert(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes */{len}")),
                );
                return Err(Box::new(response));
            }
            write_block(service, db, key_bytes, range.range, if_match, body).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Some(ValueKind::Str(_)) => {
            if only_if_absent {
                return Err(reject(StatusCode::PRECONDITION_FAILED, "the key exists"));
            }
            let value = string_body(body).await?;
            if value.len() as u64 != range.range.len() {
                return Err(length_mismatch(value.len() as u64, range.range.len()));
            }
            let op = StringOp::SetRange {
                key: key_bytes,
                offset: range.range.first as usize,
                value,
            };
            match submit(service, db, key, if_match, OpKind::Str(op))?.await? {
                Reply::Int(_) => Ok(empty(StatusCode::NO_CONTENT)),
                other => Err(engine_failure(&other)),
            }
        }
        Some(ValueKind::Other(kind)) => Err(reject(
            StatusCode::CONFLICT,
            &format!("the key holds a {kind}; only strings and blocks take bytes"),
        )),
    }
}

/// A whole body for a string value (which is held whole in memory anyway).
async fn string_body(body: Body) -> Result<Bytes, Reject> {
    axum::body::to_bytes(body, MAX_STRING_BODY)
        .await
        .map_err(|_| {
            reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "a string body is at most 512 MiB",
            )
        })
}

/// What `key` holds and its version, for preconditions and for choosing how to write.
fn stat(service: &Service, db: Namespace, key: &[u8]) -> Result<Option<Stat>, Reject> {
    service
        .stat(db, key)
        .map_err(|e| reject(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

fn length_mismatch(got: u64, expected: u64) -> Reject {
    reject(
        StatusCode::BAD_REQUEST,
        &format!("the body is {got} bytes but Content-Range says {expected}"),
    )
}

/// Streams the body into the block at `range`, 1 MiB per op with a few in flight.
/// The first op carries the `If-Match` check. A body of the wrong length is refused,
/// but what arrived before that point has been written (as on a disk).
async fn write_block(
    service: &Service,
    db: Namespace,
    key: Bytes,
    range: ByteRange,
    if_match: Option<&HeaderValue>,
    body: Body,
) -> Result<(), Reject> {
    let expected = range.len();
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut written = 0u64;
    let mut received = 0u64;
    let mut guard = if_match;
    let mut in_flight = VecDeque::new();
    loop {
        let frame = stream.next().await;
        let done = frame.is_none();
        if let Some(frame) = frame {
            let frame =
                frame.map_err(|e| reject(StatusCode::BAD_REQUEST, &format!("body: {e}")))?;
            received += frame.len() as u64;
            if received > expected {
                return Err(length_mismatch(received, expected));
            }
            buf.extend_from_slice(&frame);
        }
        while buf.len() >= MAX_OP_BYTES || (done && !buf.is_empty()) {
            let take = buf.len().min(MAX_OP_BYTES);
            let op = BlockOp::Write {
                key: key.clone(),
                offset: range.first + written,
                data: buf.split_to(take).freeze(),
            };
            written += take as u64;
            in_flight.push_back(submit(service, db, &key, guard.take(), OpKind::Block(op))?);
            if in_flight.len() >= WRITES_IN_FLIGHT
                && let Some(pending) = in_flight.pop_front()
            {
                check_written(pending.await?)?;
            }
        }
        if done {
            break;
        }
    }
    for pending in in_flight {
        check_written(pending.await?)?;
    }
    if received != expected {
        return Err(length_mismatch(received, expected));
    }
    Ok(())
}

fn check_written(reply: Reply) -> Result<(), Reject> {
    match reply {
        Reply::Int(_) => Ok(()),
        other => Err(engine_failure(&other)),
    }
}

/// DELETE.
pub(crate) async fn delete_value(
    State(service): State<Service>,
    Path((ns, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let db = namespace(&service, &ns)?;
        let op = KeyOp::Del {
            keys: vec![Bytes::copy_from_slice(key.as_bytes())],
        };
        let if_match = headers.get(header::IF_MATCH);
        match submit(&service, db, key.as_bytes(), if_match, OpKind::Key(op))?.await? {
            Reply::Int(1) => Ok(empty(StatusCode::NO_CONTENT)),
            Reply::Int(_) => Err(reject(StatusCode::NOT_FOUND, "no such key")),
            other => Err(engine_failure(&other)),
        }
    };
    match result.await {
        Ok(response) => response,
        Err(e) => *e,
    }
}
