//! One connection to one broker: TCP via socket2 (TCP_NODELAY, keepalive,
//! buffer sizes), ApiVersions on connect, per-API version choice, and
//! pipelined requests matched to responses by correlation id, with a bound
//! on how many are in flight.
//!
//! Reading and writing are two tasks, so a large request being written
//! never stops responses from being read (a broker busy writing a large
//! response to us would otherwise never read the rest of our request).
//! A request not answered within `request.timeout.ms` closes the
//! connection, as Kafka's clients do, failing everything pending on it:
//! its order on the wire is unknown after that, and a half-open socket
//! must not hold in-flight slots forever.
//!
//! The byte stream is a boxed `AsyncRead + AsyncWrite`, so TLS and SASL can
//! wrap it later without the layers above noticing.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::{decode_exact, decode_response, encode_request_frame, frame_length, RequestHeader, DEFAULT_MAX_FRAME};
use ferrokafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// Socket and protocol settings of a connection.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// `client.id`.
    pub client_id: String,
    /// `socket.connection.setup.timeout.ms`.
    pub connect_timeout: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `send.buffer.bytes` (None: the OS default).
    pub send_buffer: Option<usize>,
    /// `receive.buffer.bytes` (None: the OS default).
    pub receive_buffer: Option<usize>,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            client_id: "ferrokafka".into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 5,
            send_buffer: None,
            receive_buffer: None,
        }
    }
}

/// The byte stream under a connection.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

type Reply = oneshot::Sender<Result<Bytes>>;

struct Outgoing {
    frame: BytesMut,
    correlation_id: i32,
    /// `None` for requests without a response (Produce with acks=0).
    reply: Option<Reply>,
    /// For requests without a response: told once the bytes are written,
    /// so the caller's buffer is held until then.
    written: Option<oneshot::Sender<Result<()>>>,
    /// The in-flight slot, released when the answer arrives.
    permit: Option<OwnedSemaphorePermit>,
    /// When the request was handed over; its answer is due by
    /// `request.timeout.ms` after.
    queued: Instant,
}

/// A request on the wire, waiting for its answer.
struct Waiter {
    correlation_id: i32,
    reply: Reply,
    _permit: Option<OwnedSemaphorePermit>,
    deadline: Instant,
}

/// What the reader and writer share: the requests waiting for answers (in
/// wire order), and why the connection closed, once it has.
#[derive(Default)]
struct Shared {
    waiting: VecDeque<Waiter>,
    closed: Option<String>,
}

/// A live connection. Cheap to clone; closing happens when the broker
/// hangs up, an I/O error occurs, a request times out, or
/// [`Connection::close`] is called, and every pending request then fails.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    client_id: String,
    request_timeout: Duration,
    max_in_flight: usize,
    versions: HashMap<ApiKey, (i16, i16)>,
    tx: mpsc::UnboundedSender<Outgoing>,
    slots: Arc<Semaphore>,
    next_correlation: std::sync::atomic::AtomicI32,
    io: Arc<Io>,
}

/// The state both I/O tasks and the handles see.
struct Io {
    shared: Mutex<Shared>,
    /// The reader waits on this when nothing is pending, to learn of the
    /// first new request's deadline.
    new_waiter: Notify,
    closed_tx: watch::Sender<Option<String>>,
    /// `request.timeout.ms`: a request's answer is due this long after it
    /// was handed over.
    request_timeout: Duration,
}

impl Io {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the connection for `reason` (the first reason wins): every
    /// waiting request fails, both tasks stop.
    fn close(&self, reason: String, addr: &str) {
        let waiting = {
            let mut s = self.lock();
            if s.closed.is_some() {
                return;
            }
            s.closed = Some(reason.clone());
            std::mem::take(&mut s.waiting)
        };
        for w in waiting {
            let _ = w.reply.send(Err(Error::Io(format!("{addr}: {reason}"))));
        }
        self.closed_tx.send_replace(Some(reason));
    }
}

fn socket_for(addr: SocketAddr, cfg: &ConnConfig) -> std::io::Result<tokio::net::TcpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_tcp_nodelay(true)?;
    s.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)))?;
    if let Some(n) = cfg.send_buffer {
        s.set_send_buffer_size(n)?;
    }
    if let Some(n) = cfg.receive_buffer {
        s.set_recv_buffer_size(n)?;
    }
    s.set_nonblocking(true)?;
    Ok(tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(s)))
}

impl Connection {
    /// Connects to `addr` (a `host:port`; names are resolved and each
    /// address tried) and negotiates API versions.
    pub async fn connect(addr: &str, cfg: &ConnConfig) -> Result<Connection> {
        let addrs: Vec<SocketAddr> = tokio::time::timeout(cfg.connect_timeout, tokio::net::lookup_host(addr))
            .await
            .map_err(|_| Error::Timeout("resolving a broker address"))??
            .collect();
        let mut last = Error::Io(format!("{addr}: no address"));
        for a in addrs {
            let attempt = async {
                let stream = socket_for(a, cfg)?.connect(a).await?;
                Ok::<_, std::io::Error>(stream)
            };
            match tokio::time::timeout(cfg.connect_timeout, attempt).await {
                Ok(Ok(stream)) => return Self::handshake(Box::new(stream), addr, cfg).await,
                Ok(Err(e)) => last = Error::Io(format!("{addr}: {e}")),
                Err(_) => last = Error::Timeout("connecting to a broker"),
            }
        }
        Err(last)
    }

    /// Runs the connection over an established stream (TCP, TLS, ...).
    pub async fn handshake(stream: Box<dyn Stream>, addr: &str, cfg: &ConnConfig) -> Result<Connection> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (closed_tx, _) = watch::channel(None);
        let io = Arc::new(Io { shared: Mutex::default(), new_waiter: Notify::new(), closed_tx, request_timeout: cfg.request_timeout });
        let (rd, wr) = tokio::io::split(stream);
        tokio::spawn(write_loop(wr, rx, io.clone(), addr.to_string()));
        tokio::spawn(read_loop(rd, io.clone(), addr.to_string()));
        let mut conn = Connection {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                client_id: cfg.client_id.clone(),
                request_timeout: cfg.request_timeout,
                max_in_flight: cfg.max_in_flight.max(1),
                versions: HashMap::new(),
                tx,
                slots: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
                next_correlation: std::sync::atomic::AtomicI32::new(0),
                io,
            }),
        };
        let versions = match conn.negotiate().await {
            Ok(v) => v,
            Err(e) => {
                conn.close();
                return Err(e);
            }
        };
        Arc::get_mut(&mut conn.inner).expect("not shared yet").versions = versions;
        Ok(conn)
    }

    /// ApiVersions at our highest version, stepping down to what the broker
    /// says it speaks. A broker that does not know the version we asked
    /// for answers UNSUPPORTED_VERSION in a version-0 body (KIP-511; brokers
    /// before 2.4 speak ApiVersions up to v2), which is read as such.
    async fn negotiate(&self) -> Result<HashMap<ApiKey, (i16, i16)>> {
        let req = ApiVersionsRequest {
            client_software_name: "ferrokafka".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        };
        let mut version = ApiKey::ApiVersions.versions().1;
        loop {
            let frame = self.round_trip(RequestBody::ApiVersions(req.clone()), version).await?;
            let resp = match decode_response(ApiKey::ApiVersions, version, frame.clone()) {
                Ok((_, ResponseBody::ApiVersions(r))) => r,
                Ok(_) => return Err(Error::Io("mismatched response".into())),
                // The header of an ApiVersions response is always v0 (a
                // 4-byte correlation id): read the body as version 0.
                Err(e) => match frame.len().checked_sub(4).map(|_| decode_exact::<ApiVersionsResponse>(frame.slice(4..), 0)) {
                    Some(Ok(r)) if r.error_code == ErrorCode::UNSUPPORTED_VERSION.0 => r,
                    _ => return Err(Error::Protocol(e)),
                },
            };
            let code = ErrorCode(resp.error_code);
            if code == ErrorCode::UNSUPPORTED_VERSION && version > 0 {
                // The broker lists its ApiVersions range; use its highest.
                let max = resp.api_keys.iter().find(|k| k.api_key == ApiKey::ApiVersions as i16).map(|k| k.max_version).unwrap_or(0);
                version = max.min(version - 1).max(0);
                continue;
            }
            code.check()?;
            let mut out = HashMap::new();
            for k in resp.api_keys {
                if let Some(api) = ApiKey::from_i16(k.api_key) {
                    out.insert(api, (k.min_version, k.max_version));
                }
            }
            return Ok(out);
        }
    }

    /// The broker address this connection was made to.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// The highest version of `api` both sides speak, or an error naming the API.
    pub fn version(&self, api: ApiKey) -> Result<i16> {
        let (ours_min, ours_max) = api.versions();
        match self.inner.versions.get(&api) {
            Some(&(min, max)) => {
                let v = ours_max.min(max);
                if v < ours_min.max(min) {
                    Err(Error::UnsupportedApi { api, broker: Some((min, max)) })
                } else {
                    Ok(v)
                }
            }
            None => Err(Error::UnsupportedApi { api, broker: None }),
        }
    }

    /// The broker's range for `api`.
    pub fn broker_range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.inner.versions.get(&api).copied()
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.io.lock().closed.is_some() || self.inner.tx.is_closed()
    }

    /// Requests sent or queued and not yet answered (for choosing the
    /// least-loaded broker).
    pub fn in_flight(&self) -> usize {
        self.inner.max_in_flight - self.inner.slots.available_permits().min(self.inner.max_in_flight)
    }

    /// Sends at the negotiated version and waits for the answer.
    pub async fn send(&self, body: RequestBody) -> Result<ResponseBody> {
        let v = self.version(body.api_key())?;
        self.send_at(body, v).await
    }

    /// Sends at `version` and waits for the answer (up to `request.timeout.ms`).
    pub async fn send_at(&self, body: RequestBody, version: i16) -> Result<ResponseBody> {
        let api = body.api_key();
        let frame = self.round_trip(body, version).await?;
        let (_, resp) = decode_response(api, version, frame)?;
        Ok(resp)
    }

    async fn round_trip(&self, body: RequestBody, version: i16) -> Result<Bytes> {
        let rx = self.enqueue(&body, version, true).await?.0.expect("a reply was asked for");
        self.await_reply(rx).await
    }

    /// The answer; the connection's reader enforces the request timeout
    /// (closing the connection), so this only waits for it.
    async fn await_reply(&self, rx: oneshot::Receiver<Result<Bytes>>) -> Result<Bytes> {
        match rx.await {
            Err(_) => Err(self.close_reason()),
            Ok(r) => r,
        }
    }

    /// Puts a request on the wire now (in call order) and returns a future
    /// for its answer, so a caller can pipeline requests whose order
    /// matters (idempotent Produce) without waiting for each answer.
    pub async fn send_ordered(&self, body: RequestBody) -> Result<impl std::future::Future<Output = Result<ResponseBody>> + Send + 'static> {
        let api = body.api_key();
        let version = self.version(api)?;
        let rx = self.enqueue(&body, version, true).await?.0.expect("a reply was asked for");
        let conn = self.clone();
        Ok(async move {
            let frame = conn.await_reply(rx).await?;
            let (_, resp) = decode_response(api, version, frame)?;
            Ok(resp)
        })
    }

    /// Sends a request that has no response (Produce with acks=0); returns
    /// once its bytes are written to the socket.
    pub async fn send_no_response(&self, body: RequestBody) -> Result<()> {
        let v = self.version(body.api_key())?;
        let written = self.enqueue(&body, v, false).await?.1.expect("asked to hear of the write");
        match written.await {
            Ok(r) => r,
            Err(_) => Err(self.close_reason()),
        }
    }

    #[allow(clippy::type_complexity)]
    async fn enqueue(&self, body: &RequestBody, version: i16, reply: bool) -> Result<(Option<oneshot::Receiver<Result<Bytes>>>, Option<oneshot::Receiver<Result<()>>>)> {
        // A slot per request in flight, released when its answer arrives;
        // waiting for one is bounded like the request itself.
        let permit = match tokio::time::timeout(self.inner.request_timeout, self.inner.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(Error::Closed),
            Err(_) => return Err(Error::Timeout("waiting for an in-flight request slot")),
        };
        if self.is_closed() {
            return Err(self.close_reason());
        }
        let correlation_id = self.inner.next_correlation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let header = RequestHeader {
            api_key: body.api_key() as i16,
            api_version: version,
            correlation_id,
            client_id: Some(self.inner.client_id.clone()),
            ..Default::default()
        };
        let mut frame = BytesMut::new();
        encode_request_frame(&header, body, &mut frame)?;
        let (reply_tx, reply_rx) = if reply { Some(oneshot::channel()).unzip() } else { (None, None) };
        let (written_tx, written_rx) = if reply { (None, None) } else { Some(oneshot::channel()).unzip() };
        let permit = reply.then_some(permit);
        let out = Outgoing { frame, correlation_id, reply: reply_tx, written: written_tx, permit, queued: Instant::now() };
        self.inner.tx.send(out).map_err(|_| self.close_reason())?;
        Ok((reply_rx, written_rx))
    }

    fn close_reason(&self) -> Error {
        match self.inner.io.lock().closed.clone() {
            Some(reason) => Error::Io(format!("{}: {reason}", self.inner.addr)),
            None => Error::Closed,
        }
    }

    /// Closes the connection; pending requests fail.
    pub fn close(&self) {
        self.inner.io.close("closed by the client".into(), &self.inner.addr);
    }
}

/// Writes queued frames in order. A request expecting an answer is put in
/// the waiting queue before its bytes go out, so its answer always finds it.
async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::UnboundedReceiver<Outgoing>, io: Arc<Io>, addr: String) {
    let mut closed = io.closed_tx.subscribe();
    // A close before this task first ran is not a change to wait for.
    while io.lock().closed.is_none() {
        let out = tokio::select! {
            o = rx.recv() => match o {
                Some(o) => o,
                None => break,
            },
            _ = closed.changed() => break,
        };
        if let Some(reply) = out.reply {
            let waiter = Waiter { correlation_id: out.correlation_id, reply, _permit: out.permit, deadline: out.queued + io.request_timeout };
            let mut s = io.lock();
            if s.closed.is_some() {
                let reason = s.closed.clone().unwrap_or_default();
                drop(s);
                let _ = waiter.reply.send(Err(Error::Io(format!("{addr}: {reason}"))));
                continue;
            }
            let was_empty = s.waiting.is_empty();
            s.waiting.push_back(waiter);
            drop(s);
            if was_empty {
                io.new_waiter.notify_one();
            }
        }
        // A write is bounded like the request it carries: a broker that
        // stops reading (or a half-open socket) must not hold the writer,
        // and everything queued behind it, until TCP gives up.
        let deadline = out.queued + io.request_timeout;
        let result = tokio::select! {
            r = wr.write_all(&out.frame) => r,
            _ = tokio::time::sleep_until(deadline) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "request not written within request.timeout.ms")),
            _ = closed.changed() => break,
        };
        match result {
            Ok(()) => {
                if let Some(w) = out.written {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                if let Some(w) = out.written {
                    let _ = w.send(Err(Error::Io(format!("{addr}: {e}"))));
                }
                io.close(e.to_string(), &addr);
                break;
            }
        }
    }
    io.close("closed".into(), &addr);
    // Requests queued behind the close fail too.
    rx.close();
    let reason = io.lock().closed.clone().unwrap_or_default();
    while let Ok(o) = rx.try_recv() {
        if let Some(r) = o.reply {
            let _ = r.send(Err(Error::Io(format!("{addr}: {reason}"))));
        }
        if let Some(w) = o.written {
            let _ = w.send(Err(Error::Io(format!("{addr}: {reason}"))));
        }
    }
    let _ = wr.shutdown().await;
}

/// Reads responses and hands each to the oldest waiting request (Kafka
/// answers in order per connection); closes the connection when the
/// oldest waiting request is past its deadline.
async fn read_loop<R: AsyncRead + Unpin>(rd: R, io: Arc<Io>, addr: String) {
    let mut closed = io.closed_tx.subscribe();
    let mut reading = Box::pin(read_frame_owned(rd));
    // A close before this task first ran is not a change to wait for.
    while io.lock().closed.is_none() {
        let deadline = io.lock().waiting.front().map(|w| w.deadline);
        let expired = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => io.new_waiter.notified().await,
            }
        };
        tokio::select! {
            frame = &mut reading => match frame {
                Err(e) => {
                    io.close(e, &addr);
                    return;
                }
                Ok((frame, back)) => {
                    reading = Box::pin(read_frame_owned(back));
                    if let Err(reason) = route(&io, frame) {
                        io.close(reason, &addr);
                        return;
                    }
                }
            },
            _ = expired => {
                if deadline.is_some() {
                    // The oldest request is out of time: it fails with a
                    // timeout, everything else with the closed connection.
                    // Closed first, so whoever hears of the timeout never
                    // finds this connection still open.
                    let timed_out = io.lock().waiting.pop_front();
                    io.close("closed after a request timed out".into(), &addr);
                    if let Some(w) = timed_out {
                        let _ = w.reply.send(Err(Error::Timeout("request")));
                    }
                    return;
                }
            }
            _ = closed.changed() => return,
        }
    }
}

/// Hands a response frame to the waiter it answers.
fn route(io: &Io, frame: Bytes) -> std::result::Result<(), String> {
    if frame.len() < 4 {
        return Err("short response".into());
    }
    let corr = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let front = io.lock().waiting.pop_front();
    match front {
        Some(w) if w.correlation_id == corr => {
            let _ = w.reply.send(Ok(frame));
            Ok(())
        }
        Some(w) => {
            let _ = w.reply.send(Err(Error::Io(format!("response for correlation id {corr}, expected {}", w.correlation_id))));
            Err("correlation id mismatch".into())
        }
        None => Err(format!("unexpected response with correlation id {corr}")),
    }
}

async fn read_frame_owned<R: AsyncRead + Unpin>(mut rd: R) -> std::result::Result<(Bytes, R), String> {
    let mut prefix = [0u8; 4];
    rd.read_exact(&mut prefix).await.map_err(|e| e.to_string())?;
    let len = frame_length(prefix, DEFAULT_MAX_FRAME).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; len];
    rd.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    Ok((Bytes::from(buf), rd))
}
