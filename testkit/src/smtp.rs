//! A small but real SMTP server on 127.0.0.1 for tests and benchmarks: it speaks the protocol lettre uses
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every accepted message, and can be told to
//! misbehave: answer 451 to the next N messages, reject recipients with 550, greet with 421,
//! or sit on DATA for a while.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// When the server accepted it.
    pub at: std::time::Instant,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a MIME message")
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }

    pub fn text(&self) -> String {
        self.parsed().body_text(0).unwrap_or_default().to_string()
    }

    pub fn html(&self) -> String {
        self.parsed().body_html(0).unwrap_or_default().to_string()
    }
}

#[derive(Default)]
struct Behaviour {
    fail_next: usize,
    reject_recipients: bool,
    refuse_connections: bool,
    data_delay: Duration,
    sessions: usize,
}

#[derive(Clone, Default)]
pub struct SmtpServer {
    pub addr: Option<SocketAddr>,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

pub struct Running {
    pub server: SmtpServer,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::ops::Deref for Running {
    type Target = SmtpServer;
    fn deref(&self) -> &SmtpServer {
        &self.server
    }
}

impl SmtpServer {
    pub async fn start() -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = SmtpServer {
            addr: Some(listener.local_addr().unwrap()),
            ..Default::default()
        };
        let shared = server.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = shared.session(stream).await;
                });
            }
        });
        Running { server, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.unwrap().port()
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many messages were accepted (cheaper than `messages().len()`).
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The messages accepted after the first `skip`.
    pub fn messages_after(&self, skip: usize) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .get(skip..)
            .map(<[Received]>::to_vec)
            .unwrap_or_default()
    }

    /// The next `n` messages get `451 4.3.0` after DATA (a transient failure).
    pub fn fail_next(&self, n: usize) {
        self.behaviour.lock().unwrap().fail_next = n;
    }

    /// Recipients get `550 5.1.1` (a permanent failure) while on.
    pub fn reject_recipients(&self, on: bool) {
        self.behaviour.lock().unwrap().reject_recipients = on;
    }

    /// New connections are greeted with `421` and closed while on.
    pub fn refuse_connections(&self, on: bool) {
        self.behaviour.lock().unwrap().refuse_connections = on;
    }

    /// Waits this long before answering the end of DATA.
    pub fn delay_data(&self, delay: Duration) {
        self.behaviour.lock().unwrap().data_delay = delay;
    }

    /// How many SMTP sessions were opened (connection attempts that got a greeting).
    pub fn sessions(&self) -> usize {
        self.behaviour.lock().unwrap().sessions
    }

    /// Waits until `n` messages arrived (or panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "expected {n} messages within {timeout:?}, got {}",
                    messages.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let refuse = {
            let mut b = self.behaviour.lock().unwrap();
            b.sessions += 1;
            b.refuse_connections
        };
        if refuse {
            write
                .write_all(b"421 4.3.2 test server refusing\r\n")
                .await?;
            return Ok(());
        }
        write.write_all(b"220 orderflow-test ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_string();
            let upper = command.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-orderflow-test\r\n250-8BITMIME\r\n250 SIZE 10000000\r\n"
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                b"250 OK\r\n"
            } else if upper.starts_with("RSET") {
                (from, to) = (String::new(), Vec::new());
                b"250 OK\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                from = command[10..].trim().to_string();
                b"250 OK\r\n"
            } else if upper.starts_with("RCPT TO:") {
                if self.behaviour.lock().unwrap().reject_recipients {
                    b"550 5.1.1 mailbox unavailable\r\n"
                } else {
                    to.push(command[8..].trim().to_string());
                    b"250 OK\r\n"
                }
            } else if upper == "DATA" {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(
                        line.strip_prefix('.')
                            .filter(|_| line.starts_with(".."))
                            .unwrap_or(&line),
                    );
                }
                let delay = self.behaviour.lock().unwrap().data_delay;
                if !delay.is_zero() {
                    // A client that disconnects meanwhile (killed worker) never gets its 250:
                    // the message is not accepted.
                    line.clear();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        read = lines.read_line(&mut line) => {
                            if matches!(read, Ok(0) | Err(_)) {
                                return Ok(());
                            }
                        }
                    }
                }
                let fail = {
                    let mut b = self.behaviour.lock().unwrap();
                    let fail = b.fail_next > 0;
                    b.fail_next = b.fail_next.saturating_sub(1);
                    fail
                };
                if fail {
                    b"451 4.3.0 try again later\r\n"
                } else {
                    self.received.lock().unwrap().push(Received {
                        from: std::mem::take(&mut from),
                        to: std::mem::take(&mut to),
                        data,
                        at: std::time::Instant::now(),
                    });
                    b"250 OK queued\r\n"
                }
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"502 5.5.2 command not recognised\r\n"
            };
            write.write_all(reply).await?;
        }
    }
}
