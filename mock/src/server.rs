//! The network side: one listener per broker, one task per connection,
//! requests handled one at a time per connection (as a Kafka broker mutes
//! a connection while it works on a request), faults applied on the way.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::{encode_response_frame, frame_length, RequestHeader, DEFAULT_MAX_FRAME};
use ferrokafka_protocol::messages::{api_versions_response, ApiVersionsResponse};
use ferrokafka_protocol::wire::Reader;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::faults::FaultAction;
use crate::handlers::{self, Ctx, Reply};
use crate::state::Cluster;

/// State shared by every task of a cluster.
pub struct Shared {
    pub state: Mutex<Cluster>,
    /// Woken after every request and tick, so waiting requests re-check.
    pub changed: Notify,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Cluster> {
        // A handler that panicked leaves valid state behind (handlers
        // mutate in small steps), so keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running broker's tasks.
pub struct BrokerRuntime {
    pub id: i32,
    pub addr: SocketAddr,
    pub accept: Option<JoinHandle<()>>,
    pub connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    pub paused: watch::Sender<bool>,
}

impl BrokerRuntime {
    /// Stops accepting and drops every connection.
    pub fn stop(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for c in self.connections.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            c.abort();
        }
    }
}

/// Binds `addr` and serves connections for broker `id`.
pub async fn start_broker(shared: Arc<Shared>, id: i32, addr: SocketAddr, paused: watch::Receiver<bool>) -> std::io::Result<(SocketAddr, JoinHandle<()>, Arc<Mutex<Vec<JoinHandle<()>>>>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
    let conns = connections.clone();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let task = tokio::spawn(serve(shared.clone(), id, stream, paused.clone()));
            let mut list = conns.lock().unwrap_or_else(|p| p.into_inner());
            list.retain(|t| !t.is_finished());
            list.push(task);
        }
    });
    Ok((local, accept, connections))
}

/// Periodic work: transaction timeouts, group session expiry.
pub fn start_ticker(shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            {
                shared.lock().tick();
            }
            shared.changed.notify_waiters();
        }
    })
}

async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await.ok()?;
    let len = frame_length(prefix, DEFAULT_MAX_FRAME).ok()?;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}

/// The answer to an ApiVersions request at a version we do not know:
/// UNSUPPORTED_VERSION in a v0 body listing our ApiVersions range.
fn api_versions_fallback() -> ResponseBody {
    let (min, max) = ApiKey::ApiVersions.versions();
    ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION.0,
        api_keys: vec![api_versions_response::ApiVersion { api_key: ApiKey::ApiVersions as i16, min_version: min, max_version: max, ..Default::default() }],
        ..Default::default()
    })
}

async fn serve(shared: Arc<Shared>, broker: i32, mut stream: TcpStream, mut paused: watch::Receiver<bool>) {
    while let Some(frame) = read_frame(&mut stream).await {
        while *paused.borrow() {
            if paused.changed().await.is_err() {
                return;
            }
        }
        let mut r = Reader::new(frame);
        // An unknown API key or an undecodable header: Kafka closes the connection.
        let Ok((header, api)) = RequestHeader::decode(&mut r) else { return };
        let version = header.api_version;
        let range = handlers::api_range(&shared.lock().config, api);
        let supported = range.is_some_and(|(min, max)| version >= min && version <= max);
        let response = if !supported {
            if api != ApiKey::ApiVersions {
                return;
            }
            Some((api_versions_fallback(), 0))
        } else {
            // Bytes after the body are ignored, as Kafka does.
            let Ok(body) = RequestBody::decode(api, version, &mut r) else { return };
            match handle(&shared, broker, &header, body).await {
                Outcome::Respond(resp) => Some((resp, version)),
                Outcome::Silent => None,
                Outcome::Close => return,
            }
        };
        shared.changed.notify_waiters();
        if let Some((resp, v)) = response {
            let mut out = BytesMut::new();
            if encode_response_frame(header.correlation_id, &resp, v, &mut out).is_err() {
                return;
            }
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

enum Outcome {
    Respond(ResponseBody),
    Silent,
    Close,
}

async fn handle(shared: &Arc<Shared>, broker: i32, header: &RequestHeader, body: RequestBody) -> Outcome {
    let ctx = Ctx { broker, header };
    let api = body.api_key();
    let (actions, mut reply) = {
        let mut c = shared.lock();
        let actions = c.faults.take(broker, api);
        if actions.contains(&FaultAction::DropRequest) {
            return Outcome::Close;
        }
        let injected = actions.iter().find_map(|a| match a {
            FaultAction::Error(e) => Some(*e),
            _ => None,
        });
        let reply = match injected {
            Some(e) => match handlers::errors::error_response(&body, header.api_version, e) {
                Some(resp) => Reply::Response(resp),
                None => return Outcome::Close,
            },
            None => handlers::dispatch(&mut c, &ctx, body),
        };
        (actions, reply)
    };
    shared.changed.notify_waiters();
    loop {
        match reply {
            Reply::Response(resp) => {
                for a in &actions {
                    if let FaultAction::Delay(d) = a {
                        tokio::time::sleep(*d).await;
                    }
                }
                if actions.contains(&FaultAction::DropResponse) {
                    return Outcome::Close;
                }
                return Outcome::Respond(resp);
            }
            Reply::Nothing => {
                if actions.contains(&FaultAction::DropResponse) {
                    return Outcome::Close;
                }
                return Outcome::Silent;
            }
            Reply::Wait(pending) => {
                let deadline = pending.deadline();
                let notified = shared.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                // Re-check once after registering, so no wake-up is lost.
                let again = {
                    let mut c = shared.lock();
                    handlers::poll(&mut c, &ctx, pending, false)
                };
                match again {
                    Reply::Wait(pending) => {
                        let timed_out = tokio::select! {
                            _ = &mut notified => false,
                            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => true,
                        };
                        let mut c = shared.lock();
                        let passed = timed_out || std::time::Instant::now() >= deadline;
                        reply = handlers::poll(&mut c, &ctx, pending, passed);
                    }
                    other => reply = other,
                }
            }
        }
    }
}
