//! argon2id password hashing, off the async runtime on a fixed set of threads, so a burst of
//! logins can neither starve request handling nor exhaust memory: each hash needs 19 MiB,
//! and with `PASSWORD_HASH_CONCURRENCY` threads doing all the hashing, that memory is
//! allocated on (and reused by) those threads only. On the runtime's blocking pool every
//! hash could land on another thread, and each thread's allocator kept its own 19 MiB:
//! 465 MiB of RSS after a minute of logins, against ~60 MiB now (docs/benchmarks.md).
//!
//! The work is bounded too: at most `PASSWORD_HASH_CONCURRENCY + PASSWORD_HASH_QUEUE` hashes
//! are running or waiting; a caller that finds no room within `PASSWORD_HASH_WAIT_MS` gets
//! `HashError::Busy` (a 503 with `Retry-After`) instead of joining an ever longer queue.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use metrics::counter;
use secrecy::{ExposeSecret, SecretString};
use std::{
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::ApiError;

/// OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full: try again shortly.
    #[error("password hashing is saturated")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => ApiError::Busy {
                detail: "Too many sign-ins in progress, try again shortly",
                retry_after_seconds: 1,
            },
            HashError::Failed(e) => ApiError::Internal(e),
        }
    }
}

#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    /// Work for the hashing threads; they end when the last `Passwords` is dropped.
    jobs: mpsc::SyncSender<Job>,
    /// One permit per hash running or waiting.
    slots: Arc<Semaphore>,
    /// Longest a caller waits for a slot.
    wait: Duration,
    /// Verified against when the user does not exist, so both failures take as long.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// `threads` hashing threads, `queue` more hashes allowed to wait for one, `wait` the
    /// longest a caller waits for room.
    pub fn new(threads: usize, queue: usize, wait: Duration) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
            .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon
            .hash_password(b"timing-equaliser")
            .map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))?
            .to_string();
        let slots = threads + queue;
        let (jobs, queue) = mpsc::sync_channel::<Job>(slots);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
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
            slots: Arc::new(Semaphore::new(slots)),
            wait,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Waits (at most `PASSWORD_HASH_WAIT_MS`) for room to hash one password. Taken before
    /// any other work of a login or registration, so that a refused one costs nothing else.
    pub async fn reserve(&self) -> Result<Slot, HashError> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                passwords: self.clone(),
                permit,
            }),
            Ok(Err(_)) | Err(_) => {
                counter!("orderflow_password_hash_rejected_total").increment(1);
                Err(HashError::Busy)
            }
        }
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        self.reserve().await?.hash(password).await
    }

    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        self.reserve().await?.verify(password, hash).await
    }
}

/// Room for one hash on the hashing threads.
pub struct Slot {
    passwords: Passwords,
    permit: OwnedSemaphorePermit,
}

impl Slot {
    pub async fn hash(self, password: SecretString) -> Result<String, HashError> {
        let argon = self.passwords.argon.clone();
        self.run(move || {
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
        self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        let argon = self.passwords.argon.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.passwords.dummy_hash.to_string());
        let matches = self
            .run(move || {
                Ok(argon
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    /// Runs `work` on a hashing thread; the slot is freed when it is done.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let permit = self.permit;
        let job: Job = Box::new(move || {
            let _ = done.send(work());
            drop(permit);
        });
        // The channel holds as many jobs as there are permits: with one, there is room.
        self.passwords
            .jobs
            .try_send(job)
            .map_err(|_| anyhow::anyhow!("password hashing threads stopped"))?;
        Ok(result
            .await
            .map_err(|_| anyhow::anyhow!("password hashing thread dropped the job"))??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = Passwords::new(2, 4, Duration::from_secs(5)).unwrap();
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

#[cfg(test)]
mod saturation {
    use super::*;

    #[tokio::test]
    async fn a_caller_finding_every_slot_taken_is_refused_after_the_wait() {
        let passwords = Passwords::new(1, 2, Duration::from_millis(50)).unwrap();
        let hash = passwords
            .hash("pw-123456".to_string().into())
            .await
            .unwrap();
        // Three hashes running or queued (one thread + two waiting) fill every slot.
        let held = passwords.slots.clone().acquire_many_owned(3).await.unwrap();
        let refused = passwords
            .verify("pw-123456".to_string().into(), Some(hash.clone()))
            .await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        // One slot frees up while a caller waits: it gets it.
        let mut held = held;
        let waiting = tokio::spawn({
            let passwords = passwords.clone();
            let hash = hash.clone();
            async move {
                passwords
                    .verify("pw-123456".to_string().into(), Some(hash))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held.split(1));
        assert!(waiting.await.unwrap().unwrap());
    }
}
