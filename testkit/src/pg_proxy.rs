//! A PostgreSQL wire-protocol proxy for tests, between a client (OrderFlow's pool) and the real
//! server. It reads just enough of the protocol to know which request each of the server's
//! replies answers, so a test can
//! - hold the reply to a chosen statement (`BEGIN`, an `INSERT`, `COMMIT`, the startup
//!   handshake, or the rest of a result after its first rows) and cut the caller short at
//!   exactly that moment, then release it;
//! - make the database slow: every reply held back for a random 0..max delay;
//! - see every NoticeResponse the server sent (a warning such as "there is already a
//!   transaction in progress" means the client lost track of a session).
//!
//! Each client request that ends with a ReadyForQuery is labelled with its SQL: a simple
//! `Query` with its text; an extended-protocol batch (`Bind`/`Execute` … `Sync`) with the text
//! of the statement it executes (named statements are remembered from their `Parse`); a batch
//! that only prepares (`Parse`/`Describe` … `Sync`, sqlx's first use of a statement) with
//! `PARSE: ` and the text; a bare `Sync` (sqlx's ping) with `SYNC`; the handshake with
//! `STARTUP`. A hold's pattern matches a label containing it, and a `PARSE: ` label only when
//! the pattern starts with `PARSE: `. The client must not ask for TLS: an `SSLRequest` is
//! answered "no" by the proxy itself.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter},
    net::{TcpListener, TcpStream},
    sync::{Notify, watch},
    task::JoinHandle,
};

/// The label of the handshake's reply and of a bare `Sync`.
pub const STARTUP: &str = "STARTUP";
pub const SYNC: &str = "SYNC";
/// The prefix of a batch that prepares a statement without executing it.
pub const PARSE: &str = "PARSE: ";

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// A NoticeResponse the server sent to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: String,
    pub code: String,
    pub message: String,
}

struct Rule {
    /// Held when the request's SQL contains this.
    pattern: String,
    /// Messages of the reply let through before the hold (0: the whole reply is held).
    after: usize,
    /// Holds once: the first matching reply only.
    armed: AtomicBool,
    reached: AtomicBool,
    reached_signal: Notify,
    released: watch::Sender<bool>,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Arc<Rule>>>,
    /// Each reply is held back a random 0..this (a slow database); zero: none.
    max_delay: Mutex<Duration>,
    notices: Mutex<Vec<Notice>>,
    connections: AtomicUsize,
}

/// The running proxy; stops (and drops every proxied connection) when dropped.
pub struct PgProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// A hold on the reply to one statement (see [`PgProxy::hold_reply`]). Released when dropped,
/// so a failing test never leaves a connection stuck.
pub struct Hold {
    rule: Arc<Rule>,
}

impl Rule {
    fn matches(&self, label: &str) -> bool {
        match self.pattern.strip_prefix(PARSE) {
            Some(pattern) => label.starts_with(PARSE) && label.contains(pattern),
            None => !label.starts_with(PARSE) && label.contains(&self.pattern),
        }
    }
}

impl PgProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                accept_shared.connections.fetch_add(1, Ordering::Relaxed);
                let shared = accept_shared.clone();
                sessions.spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        proxy_session(client, server, shared).await;
                    }
                });
            }
        });
        Self { addr, shared, task }
    }

    /// The proxy in front of the PostgreSQL server of `url` (`postgres://user@host:port/...`).
    pub async fn in_front_of(url: &str) -> Self {
        let host_port = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.rsplit_once('@').map_or(Some(rest), |(_, hp)| Some(hp)))
            .map(|hp| hp.split('/').next().unwrap_or(hp))
            .expect("a postgres:// URL");
        let upstream = tokio::net::lookup_host(host_port)
            .await
            .expect("PostgreSQL host resolves")
            .next()
            .expect("an address");
        Self::start(upstream).await
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `url` with its host and port replaced by the proxy's, TLS off (the proxy reads the
    /// protocol).
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
        let (user, host_and_path) = match rest.rsplit_once('@') {
            Some((user, hp)) => (format!("{user}@"), hp),
            None => (String::new(), rest),
        };
        let path = host_and_path.find('/').map_or("", |i| &host_and_path[i..]);
        let separator = if path.contains('?') { '&' } else { '?' };
        format!(
            "{scheme}://{user}{}{path}{separator}sslmode=disable",
            self.addr
        )
    }

    /// Holds the server's reply to the next request whose SQL contains `pattern` (`STARTUP`
    /// and `SYNC` name the handshake and a bare Sync), until the hold is released or dropped.
    pub fn hold_reply(&self, pattern: &str) -> Hold {
        self.hold_reply_after(pattern, 0)
    }

    /// Like [`hold_reply`](Self::hold_reply), but lets the first `messages` messages of the
    /// reply through first (e.g. the row description and some rows of a result).
    pub fn hold_reply_after(&self, pattern: &str, messages: usize) -> Hold {
        let rule = Arc::new(Rule {
            pattern: pattern.to_string(),
            after: messages,
            armed: AtomicBool::new(true),
            reached: AtomicBool::new(false),
            reached_signal: Notify::new(),
            released: watch::channel(false).0,
        });
        self.shared.rules.lock().unwrap().push(rule.clone());
        Hold { rule }
    }

    /// Holds every reply back a random 0..`max` (zero: no delay).
    pub fn set_max_delay(&self, max: Duration) {
        *self.shared.max_delay.lock().unwrap() = max;
    }

    /// Every NoticeResponse the server has sent through the proxy so far.
    pub fn notices(&self) -> Vec<Notice> {
        self.shared.notices.lock().unwrap().clone()
    }

    /// Connections the proxy has accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.task.abort();
        for rule in self.shared.rules.lock().unwrap().iter() {
            rule.released.send_replace(true);
        }
    }
}

impl Hold {
    /// Waits until a matching reply is being held.
    pub async fn reached(&self) {
        loop {
            let notified = self.rule.reached_signal.notified();
            if self.rule.reached.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Whether a matching reply has been held.
    pub fn was_reached(&self) -> bool {
        self.rule.reached.load(Ordering::Acquire)
    }

    /// Lets the held reply (and everything after it) through.
    pub fn release(&self) {
        self.rule.released.send_replace(true);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
        self.rule.armed.store(false, Ordering::Release);
    }
}

/// One proxied connection: the startup phase, then both directions until either side closes.
async fn proxy_session(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let (client_read, mut client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    let mut client_read = BufReader::new(client_read);
    // Requests awaiting their ReadyForQuery, oldest first.
    let labels: Arc<Mutex<VecDeque<String>>> = Arc::default();

    // Startup: untyped messages. Refuse TLS and GSS encryption; forward the startup packet.
    loop {
        let Ok(len) = client_read.read_u32().await else {
            return;
        };
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        if client_read.read_exact(&mut body).await.is_err() {
            return;
        }
        let code = body
            .get(..4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            if client_write.write_all(b"N").await.is_err() {
                return;
            }
            continue;
        }
        let mut packet = len.to_be_bytes().to_vec();
        packet.extend_from_slice(&body);
        if server_write.write_all(&packet).await.is_err() {
            return;
        }
        if code == CANCEL_REQUEST {
            return;
        }
        labels.lock().unwrap().push_back(STARTUP.to_string());
        break;
    }

    let upstream = forward_requests(client_read, server_write, labels.clone());
    let downstream = forward_replies(server_read, client_write, labels, shared);
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

/// Reads one typed message: (type, whole message bytes).
async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> Option<(u8, Vec<u8>)> {
    let kind = reader.read_u8().await.ok()?;
    let len = reader.read_u32().await.ok()?;
    let mut message = Vec::with_capacity(len as usize + 1);
    message.push(kind);
    message.extend_from_slice(&len.to_be_bytes());
    message.resize(len as usize + 1, 0);
    reader.read_exact(&mut message[5..]).await.ok()?;
    Some((kind, message))
}

/// The NUL-terminated strings at the start of a message body.
fn c_strings(body: &[u8], n: usize) -> Vec<String> {
    body.split(|b| *b == 0)
        .take(n)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Client → server: forwards every message, labelling each request that will end in a
/// ReadyForQuery.
async fn forward_requests<R, W>(mut client: R, mut server: W, labels: Arc<Mutex<VecDeque<String>>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut statements: HashMap<String, String> = HashMap::new();
    let mut current = String::new();
    let mut executes = false;
    while let Some((kind, message)) = read_message(&mut client).await {
        let body = &message[5..];
        match kind {
            b'Q' => {
                let sql = c_strings(body, 1).pop().unwrap_or_default();
                labels.lock().unwrap().push_back(sql);
            }
            b'P' => {
                let parts = c_strings(body, 2);
                if let [name, sql] = parts.as_slice() {
                    statements.insert(name.clone(), sql.clone());
                    current = sql.clone();
                }
            }
            b'B' => {
                let parts = c_strings(body, 2);
                if let [_portal, name] = parts.as_slice() {
                    current = statements.get(name).cloned().unwrap_or_default();
                }
            }
            b'E' => executes = true,
            b'S' => {
                let sql = std::mem::take(&mut current);
                let label = match (sql.is_empty(), std::mem::take(&mut executes)) {
                    (true, _) => SYNC.to_string(),
                    (false, true) => sql,
                    (false, false) => format!("{PARSE}{sql}"),
                };
                labels.lock().unwrap().push_back(label);
            }
            b'F' => labels.lock().unwrap().push_back("FUNCTION CALL".into()),
            _ => {}
        }
        if server.write_all(&message).await.is_err() {
            return;
        }
        if kind == b'X' {
            return;
        }
    }
}

/// Server → client: forwards every message, applying the delay and the holds, recording
/// notices.
async fn forward_replies<R, W>(
    server: R,
    client: W,
    labels: Arc<Mutex<VecDeque<String>>>,
    shared: Arc<Shared>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut server = BufReader::new(server);
    let mut client = BufWriter::new(client);
    // Messages of the current reply forwarded so far.
    let mut sent = 0usize;
    while let Some((kind, message)) = read_message(&mut server).await {
        let label = labels.lock().unwrap().front().cloned().unwrap_or_default();
        if sent == 0 {
            let max = *shared.max_delay.lock().unwrap();
            if !max.is_zero() {
                if client.flush().await.is_err() {
                    return;
                }
                let delay = max.mul_f64(rand::random::<f64>());
                tokio::time::sleep(delay).await;
            }
        }
        let rule = shared
            .rules
            .lock()
            .unwrap()
            .iter()
            .find(|r| {
                r.after == sent
                    && r.matches(&label)
                    && r.armed
                        .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
            })
            .cloned();
        if let Some(rule) = rule {
            if client.flush().await.is_err() {
                return;
            }
            let mut released = rule.released.subscribe();
            rule.reached.store(true, Ordering::Release);
            rule.reached_signal.notify_waiters();
            let _ = released.wait_for(|r| *r).await;
        }
        if kind == b'N' {
            shared.notices.lock().unwrap().push(notice(&message[5..]));
        }
        if client.write_all(&message).await.is_err() {
            return;
        }
        sent += 1;
        if kind == b'Z' {
            labels.lock().unwrap().pop_front();
            sent = 0;
        }
        if server.buffer().is_empty() && client.flush().await.is_err() {
            return;
        }
    }
    let _ = client.flush().await;
}

/// Severity (`V`, else `S`), code (`C`) and message (`M`) of a NoticeResponse body.
fn notice(body: &[u8]) -> Notice {
    let mut found = Notice {
        severity: String::new(),
        code: String::new(),
        message: String::new(),
    };
    let mut rest = body;
    while let Some((&field, tail)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]).into_owned();
        match field {
            b'V' => found.severity = value,
            b'S' if found.severity.is_empty() => found.severity = value,
            b'C' => found.code = value,
            b'M' => found.message = value,
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
    found
}
