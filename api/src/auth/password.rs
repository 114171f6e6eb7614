//! argon2id password hashing, off the async runtime on a fixed set of threads, so a burst of
//! logins can neither starve request handling nor exhaust memory: each hash needs 19 MiB,
//! and with `PASSWORD_HASH_CONCURRENCY` threads doing all the hashing, that memory is
//! allocated on (and reused by) those threads only. On the runtime's blocking pool every
//! hash could land on another thread, and each thread's allocator kept its own 19 MiB:
//! 465 MiB of RSS after a minute of logins, against ~60 MiB now (docs/benchmarks.md).

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;

/// OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    /// Work for the hashing threads; they end when the last `Passwords` is dropped.
    jobs: mpsc::SyncSender<Job>,
    /// Verified against when the user does not exist, so both failures take as long.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new(max_concurrent: usize) -> anyhow::Result<Self> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
            .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon
            .hash_password(b"timing-equaliser")
            .map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))?
            .to_string();
        // Waiting jobs are bounded too (a full queue makes callers wait for room).
        let (jobs, queue) = mpsc::sync_channel::<Job>(max_concurrent.max(1) * 64);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..max_concurrent.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = queue.lock().expect("argon2 queue lock").recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            argon,
            jobs,
            dummy_hash: dummy_hash.into(),
        })
    }

    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        let argon = self.argon.clone();
        self.run_blocking(move || {
            argon
                .hash_password(password.expose_secret().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))
        })
        .await
    }

    /// True when `password` matches `hash`; with no hash (unknown user) a dummy hash is
    /// checked anyway and the answer is false.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> anyhow::Result<bool> {
        let argon = self.argon.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run_blocking(move || {
                Ok(argon
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    /// Runs `work` on a hashing thread.
    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            // A full queue: wait for room off the runtime.
            Err(mpsc::TrySendError::Full(job)) => {
                let jobs = self.jobs.clone();
                tokio::task::spawn_blocking(move || jobs.send(job))
                    .await?
                    .map_err(|_| anyhow::anyhow!("password hashing threads stopped"))?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                anyhow::bail!("password hashing threads stopped")
            }
        }
        result
            .await
            .map_err(|_| anyhow::anyhow!("password hashing thread dropped the job"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = Passwords::new(2).unwrap();
        let a = passwords
            .hash("correct horse".to_string().into())
            .await
            .unwrap();
        let b = passwords
            .hash("correct horse".to_string().into())
            .await
            .unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(
            passwords
                .verify("correct horse".to_string().into(), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".to_string().into(), Some(a))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("anything".to_string().into(), None)
                .await
                .unwrap()
        );
    }
}
