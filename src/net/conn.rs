//! One connection to one broker: TCP via socket2 (TCP_NODELAY, keepalive,
//! buffer sizes), ApiVersions on connect, per-API version choice, and
//! pipelined requests matched to responses by correlation id, with a bound
//! on how many are in flight.
//!
//! The byte stream is a boxed `AsyncRead + AsyncWrite`, so TLS and SASL can
//! wrap it later without the layers above noticing.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::{decode_response, encode_request_frame, frame_length, RequestHeader, DEFAULT_MAX_FRAME};
use ferrokafka_protocol::messages::ApiVersionsRequest;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Semaphore};

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
    /// The in-flight slot, released when the answer arrives.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// A live connection. Cheap to clone; closing happens when the broker
/// hangs up, an I/O error occurs, or [`Connection::close`] is called, and
/// every pending request then fails with [`Error::Io`] or [`Error::Closed`].
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    client_id: String,
    request_timeout: Duration,
    versions: HashMap<ApiKey, (i16, i16)>,
    tx: mpsc::UnboundedSender<Outgoing>,
    slots: Arc<Semaphore>,
    next_correlation: std::sync::atomic::AtomicI32,
    closed: tokio::sync::watch::Receiver<Option<String>>,
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
        let (closed_tx, closed_rx) = tokio::sync::watch::channel(None);
        tokio::spawn(run(stream, rx, closed_tx));
        let mut conn = Connection {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                client_id: cfg.client_id.clone(),
                request_timeout: cfg.request_timeout,
                versions: HashMap::new(),
                tx,
                slots: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
                next_correlation: std::sync::atomic::AtomicI32::new(0),
                closed: closed_rx,
            }),
        };
        let versions = conn.negotiate().await?;
        Arc::get_mut(&mut conn.inner).expect("not shared yet").versions = versions;
        Ok(conn)
    }

    /// ApiVersions v3, falling back to v0 if the broker is older.
    async fn negotiate(&self) -> Result<HashMap<ApiKey, (i16, i16)>> {
        let req = ApiVersionsRequest {
            client_software_name: "ferrokafka".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        };
        let mut version = 3;
        loop {
            let ResponseBody::ApiVersions(resp) = self.send_at(RequestBody::ApiVersions(req.clone()), version).await? else {
                return Err(Error::Io("mismatched response".into()));
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
        self.inner.closed.borrow().is_some() || self.inner.tx.is_closed()
    }

    /// Sends at the negotiated version and waits for the answer.
    pub async fn send(&self, body: RequestBody) -> Result<ResponseBody> {
        let v = self.version(body.api_key())?;
        self.send_at(body, v).await
    }

    /// Sends at `version` and waits for the answer (up to `request.timeout.ms`).
    pub async fn send_at(&self, body: RequestBody, version: i16) -> Result<ResponseBody> {
        let api = body.api_key();
        let rx = self.enqueue(&body, version, true).await?.expect("a reply was asked for");
        let frame = match tokio::time::timeout(self.inner.request_timeout, rx).await {
            Err(_) => return Err(Error::Timeout("request")),
            Ok(Err(_)) => return Err(self.close_reason()),
            Ok(Ok(r)) => r?,
        };
        let (_, resp) = decode_response(api, version, frame)?;
        Ok(resp)
    }

    /// Puts a request on the wire now (in call order) and returns a future
    /// for its answer, so a caller can pipeline requests whose order
    /// matters (idempotent Produce) without waiting for each answer.
    pub async fn send_ordered(&self, body: RequestBody) -> Result<impl std::future::Future<Output = Result<ResponseBody>> + Send + 'static> {
        let api = body.api_key();
        let version = self.version(api)?;
        let rx = self.enqueue(&body, version, true).await?.expect("a reply was asked for");
        let (timeout, conn) = (self.inner.request_timeout, self.clone());
        Ok(async move {
            let frame = match tokio::time::timeout(timeout, rx).await {
                Err(_) => return Err(Error::Timeout("request")),
                Ok(Err(_)) => return Err(conn.close_reason()),
                Ok(Ok(r)) => r?,
            };
            let (_, resp) = decode_response(api, version, frame)?;
            Ok(resp)
        })
    }

    /// Sends a request that has no response (Produce with acks=0).
    pub async fn send_no_response(&self, body: RequestBody) -> Result<()> {
        let v = self.version(body.api_key())?;
        self.enqueue(&body, v, false).await.map(|_| ())
    }

    async fn enqueue(&self, body: &RequestBody, version: i16, reply: bool) -> Result<Option<oneshot::Receiver<Result<Bytes>>>> {
        // A slot per request in flight; released when its answer arrives.
        let permit = self.inner.slots.clone().acquire_owned().await.map_err(|_| Error::Closed)?;
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
        let (tx, rx, permit) = if reply {
            let (tx, rx) = oneshot::channel::<Result<Bytes>>();
            (Some(tx), Some(rx), Some(permit))
        } else {
            (None, None, None)
        };
        self.inner.tx.send(Outgoing { frame, correlation_id, reply: tx, permit }).map_err(|_| self.close_reason())?;
        Ok(rx)
    }

    fn close_reason(&self) -> Error {
        match self.inner.closed.borrow().clone() {
            Some(reason) => Error::Io(format!("{}: {reason}", self.inner.addr)),
            None => Error::Closed,
        }
    }

    /// Closes the connection; pending requests fail.
    pub fn close(&self) {
        // Dropping every sender ends the writer; a zero-length marker is
        // not needed because the writer loop exits when the channel closes.
        let _ = self.inner.tx.send(Outgoing { frame: BytesMut::new(), correlation_id: -1, reply: None, permit: None });
    }
}

/// The connection's I/O task: writes queued frames, reads responses and
/// routes them by correlation id. On any error every waiter is failed.
async fn run(stream: Box<dyn Stream>, mut rx: mpsc::UnboundedReceiver<Outgoing>, closed: tokio::sync::watch::Sender<Option<String>>) {
    let (rd, mut wr) = tokio::io::split(stream);
    let mut waiting: VecDeque<(i32, Reply, Option<tokio::sync::OwnedSemaphorePermit>)> = VecDeque::new();
    let mut reading = Box::pin(read_frame_owned(rd));
    let reason: String = loop {
        tokio::select! {
            out = rx.recv() => match out {
                None => break "closed".into(),
                Some(o) if o.correlation_id == -1 && o.frame.is_empty() => break "closed by the client".into(),
                Some(o) => {
                    if let Err(e) = wr.write_all(&o.frame).await {
                        if let Some(r) = o.reply { let _ = r.send(Err(Error::Io(e.to_string()))); }
                        break e.to_string();
                    }
                    if let Some(r) = o.reply { waiting.push_back((o.correlation_id, r, o.permit)); }
                }
            },
            frame = &mut reading => match frame {
                Err(e) => break e,
                Ok((frame, back)) => {
                    reading = Box::pin(read_frame_owned(back));
                    if frame.len() < 4 { break "short response".into(); }
                    let corr = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                    // Kafka answers in order per connection.
                    match waiting.pop_front() {
                        Some((c, reply, _permit)) if c == corr => { let _ = reply.send(Ok(frame)); }
                        Some((c, reply, _permit)) => {
                            let _ = reply.send(Err(Error::Io(format!("response for correlation id {corr}, expected {c}"))));
                            break "correlation id mismatch".into();
                        }
                        None => break format!("unexpected response with correlation id {corr}"),
                    }
                }
            },
        }
    };
    let _ = closed.send(Some(reason.clone()));
    rx.close();
    for (_, reply, _) in waiting.drain(..) {
        let _ = reply.send(Err(Error::Io(reason.clone())));
    }
    while let Ok(o) = rx.try_recv() {
        if let Some(r) = o.reply {
            let _ = r.send(Err(Error::Io(reason.clone())));
        }
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
