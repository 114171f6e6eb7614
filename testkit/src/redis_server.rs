//! A Redis server of a test's own (the Debian `redis-server`), for tests that stop it, stall
//! it or count what it receives: the shared one is never disturbed. Killed when dropped.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct OwnRedis {
    pub port: u16,
    child: Child,
}

impl OwnRedis {
    /// Starts one on `port` (no persistence; `DEBUG` allowed from loopback) and waits until it
    /// accepts connections.
    pub async fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let server = Self { port, child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on {port}");
    }

    /// On a free port.
    pub async fn start() -> Self {
        Self::start_on(crate::free_port()).await
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
