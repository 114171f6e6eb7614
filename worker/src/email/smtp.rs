//! A pool of lettre SMTP connections whose sockets have `TCP_NODELAY` set.
//!
//! Why not lettre's own pool: lettre 0.11.23 never sets `TCP_NODELAY`, and it writes a
//! message's body and its terminating `\r\n.\r\n` as two writes before reading the reply.
//! Nagle's algorithm holds the second until the server acknowledges the first, and the
//! server delays that acknowledgement (40 ms on Linux): every message on a reused connection
//! waited ~40 ms for nothing (measured here: 84 emails/s from one worker, each SMTP exchange
//! ~45 ms). Fixed upstream in lettre PR #1159 (merged, not yet released); until a release
//! has it, connections are opened here — socket first, `set_nodelay(true)`, then lettre's
//! `AsyncSmtpConnection` on top for the protocol (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA).
//! Remove this module and go back to `AsyncSmtpTransport`'s pool once lettre > 0.11.23 ships
//! the fix.
//!
//! Implicit TLS (`SMTP_TLS=tls`) uses lettre's `AsyncNetworkStream` to run lettre's own TLS
//! handshake (its root store and verification) over our socket; lettre marks that type
//! deprecated ("not meant to be made public"), hence the `allow(deprecated)` below, which goes
//! away with this module.
#![allow(deprecated)]

use lettre::{
    address::Envelope,
    transport::smtp::{
        Error as SmtpError,
        authentication::{Credentials, Mechanism},
        client::{AsyncNetworkStream, AsyncSmtpConnection, AsyncTokioStream, TlsParameters},
        extension::ClientId,
    },
};
use orderflow_shared::settings::{SmtpSettings, SmtpTls};
use secrecy::ExposeSecret;
use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Mutex,
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tokio::{net::TcpStream, sync::Semaphore};

/// Idle connections older than this are closed rather than reused (servers drop idle
/// clients after a few minutes; RFC 5321 §4.5.3.2 suggests at least 5).
const MAX_IDLE: Duration = Duration::from_secs(60);

/// Why a send failed: the server's reply (4xx/5xx), or no usable connection.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{0}")]
    Smtp(#[from] SmtpError),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("no answer from the SMTP server within {0:?}")]
    Timeout(Duration),
}

impl PoolError {
    /// The reply class for `orderflow_emails_total{reply}`: "4xx"/"5xx" when the server
    /// answered, "network" when no answer came (refused, reset, timed out).
    pub fn reply_class(&self) -> &'static str {
        match self {
            Self::Smtp(e) if e.is_permanent() => "5xx",
            Self::Smtp(e) if e.is_transient() => "4xx",
            _ => "network",
        }
    }

    /// A 5xx reply: sending again cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Smtp(e) if e.is_permanent())
    }
}

pub struct SmtpPool {
    settings: SmtpSettings,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// At most this many connections exist at once.
    slots: Semaphore,
}

impl SmtpPool {
    pub fn new(settings: &SmtpSettings, max_connections: usize) -> Self {
        Self {
            settings: settings.clone(),
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(max_connections.max(1)),
        }
    }

    /// Sends one message, on an idle connection if there is one. A reused connection that
    /// turns out to be dead (the server closed it) is replaced once, transparently.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), PoolError> {
        let _slot = self.slots.acquire().await.expect("never closed");
        let timeout = self.settings.timeout;
        if let Some(mut conn) = self.take_idle() {
            match tokio::time::timeout(timeout, conn.send(envelope, message)).await {
                Ok(Ok(_)) => {
                    self.put_back(conn);
                    return Ok(());
                }
                // A reply from the server: a real answer about this message.
                Ok(Err(e)) if e.is_permanent() || e.is_transient() => {
                    self.reset_or_drop(conn).await;
                    return Err(e.into());
                }
                // Connection-level failure on a reused connection: try a fresh one.
                Ok(Err(_)) | Err(_) => conn.abort().await,
            }
        }
        let mut conn = tokio::time::timeout(timeout, self.connect())
            .await
            .map_err(|_| PoolError::Timeout(timeout))??;
        match tokio::time::timeout(timeout, conn.send(envelope, message)).await {
            Ok(Ok(_)) => {
                self.put_back(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                self.reset_or_drop(conn).await;
                Err(e.into())
            }
            Err(_) => {
                conn.abort().await;
                Err(PoolError::Timeout(timeout))
            }
        }
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().expect("smtp pool lock");
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && !conn.has_broken() {
                return Some(conn);
            }
            // Dropped without QUIT: the server cleans up a closed socket.
        }
        None
    }

    fn put_back(&self, conn: AsyncSmtpConnection) {
        if !conn.has_broken() {
            self.idle
                .lock()
                .expect("smtp pool lock")
                .push((conn, Instant::now()));
        }
    }

    /// After a refused message the connection is still good once reset (RSET).
    async fn reset_or_drop(&self, mut conn: AsyncSmtpConnection) {
        let reset = tokio::time::timeout(
            self.settings.timeout,
            conn.command(lettre::transport::smtp::commands::Rset),
        )
        .await;
        if matches!(reset, Ok(Ok(_))) {
            self.put_back(conn);
        } else {
            conn.abort().await;
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, PoolError> {
        let s = &self.settings;
        let tcp = TcpStream::connect((s.host.as_str(), s.port)).await?;
        tcp.set_nodelay(true)?;
        let mut conn = match s.tls {
            SmtpTls::None => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?
            }
            SmtpTls::StartTls => {
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
                conn.starttls(TlsParameters::new(s.host.clone())?, &self.hello)
                    .await?;
                conn
            }
            SmtpTls::Tls => {
                // Implicit TLS: the handshake comes before the greeting.
                let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                stream
                    .upgrade_tls(TlsParameters::new(s.host.clone())?)
                    .await?;
                AsyncSmtpConnection::connect_with_transport(
                    Box::new(TlsTunnel(stream)),
                    &self.hello,
                )
                .await?
            }
        };
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            let credentials = Credentials::new(user.clone(), password.expose_secret().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await?;
        }
        Ok(conn)
    }
}

/// A TLS stream lettre built (over our no-delay socket), handed back to lettre as a plain
/// Tokio stream so it can run the SMTP session on it.
#[derive(Debug)]
struct TlsTunnel(AsyncNetworkStream);

impl tokio::io::AsyncRead for TlsTunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for TlsTunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for TlsTunnel {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}
