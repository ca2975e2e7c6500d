//! Password checks on a small pool of threads of their own.
//!
//! An Argon2 check takes 19 MiB and tens of milliseconds of one core. Run one per
//! request on Tokio's blocking threads and a flood of logins takes gigabytes (and
//! the allocator keeps much of it after the flood). Here a fixed number of threads
//! check passwords, each reusing its own Argon2 memory; logins wait in a short
//! queue for a free thread and are refused with [`Busy`] when the queue is full or
//! they waited too long.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::oneshot;

/// No password checker was free in time: answer `503` with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Busy;

/// One login's check, waiting for a thread.
struct Job {
    password: String,
    /// The user's PHC hash, or `None` for an unknown user (checked against a dummy
    /// hash, so that the answer takes as long).
    hash: Option<String>,
    /// A thread that takes the job later drops it unchecked: its login was answered.
    deadline: Instant,
    reply: oneshot::Sender<bool>,
}

/// The pool's threads and the queue in front of them. Threads end when the pool is
/// dropped.
pub(crate) struct PasswordPool {
    jobs: SyncSender<Job>,
    wait: Duration,
}

impl PasswordPool {
    /// `workers` threads (at least one) behind a queue of `queue` jobs; a job waits
    /// `wait` at most.
    pub(crate) fn new(workers: usize, queue: usize, wait: Duration) -> std::io::Result<Self> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("minke-password-{i}"))
                .spawn(move || work(&rx))?;
        }
        Ok(PasswordPool { jobs, wait })
    }

    /// True when `password` matches `hash` (`None`: no such user, always false).
    pub(crate) async fn check(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            password,
            hash,
            deadline: Instant::now() + self.wait,
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return Err(Busy),
        }
        // A job taken just before its deadline still gets its answer.
        answer.await.map_err(|_| Busy)
    }

    /// How long a refused login should wait before it tries again.
    pub(crate) fn retry_after(&self) -> Duration {
        self.wait.max(Duration::from_secs(1))
    }
}

/// A pool thread: takes jobs until the pool is gone.
fn work(rx: &Mutex<Receiver<Job>>) {
    let mut checker = Checker::default();
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(job) = job else { return };
        if Instant::now() > job.deadline || job.reply.is_closed() {
            // Dropping the reply tells the login it was not checked.
            continue;
        }
        let ok = checker.check(&job.password, job.hash.as_deref());
        let _ = job.reply.send(ok);
    }
}

/// Checks passwords, keeping its Argon2 memory from one check to the next.
#[derive(Default)]
pub(crate) struct Checker {
    memory: Vec<Block>,
}

impl Checker {
    /// True when `password` matches the PHC `hash`; an unknown user (`None`) is
    /// checked against a dummy hash and is always false.
    pub(crate) fn check(&mut self, password: &str, hash: Option<&str>) -> bool {
        static DUMMY: OnceLock<String> = OnceLock::new();
        match hash {
            Some(h) => self.verify(password, h),
            None => {
                let dummy =
                    DUMMY.get_or_init(|| crate::hash_password("minke-dummy").unwrap_or_default());
                let _ = self.verify(password, dummy);
                false
            }
        }
    }

    fn verify(&mut self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            tracing::warn!("a stored password hash cannot be read");
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        let Some(argon) = argon_for(&parsed) else {
            tracing::warn!("a stored password hash has unknown parameters");
            return false;
        };
        let blocks = argon.params().block_count();
        if self.memory.len() < blocks {
            self.memory.resize(blocks, Block::default());
        }
        let mut out = vec![0u8; expected.len()];
        let done = argon.hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut self.memory[..blocks],
        );
        done.is_ok() && crate::auth::same_bytes(&out, expected.as_bytes())
    }
}

/// The Argon2 of a stored hash: its algorithm, version and parameters.
fn argon_for(parsed: &PasswordHash) -> Option<Argon2<'static>> {
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(parsed).ok()?;
    Some(Argon2::new(algorithm, version, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_agrees_with_argon2_and_reuses_its_memory() {
        let hash = crate::hash_password("correct horse").unwrap();
        let mut c = Checker::default();
        assert!(c.check("correct horse", Some(&hash)));
        let kept = c.memory.as_ptr();
        assert!(!c.check("wrong", Some(&hash)));
        assert!(!c.check("correct horse", None));
        assert!(!c.check("correct horse", Some("not a hash")));
        assert_eq!(c.memory.as_ptr(), kept, "the memory is reused");
    }

    #[tokio::test]
    async fn a_full_queue_is_busy() {
        let pool = PasswordPool::new(1, 1, Duration::from_secs(5)).unwrap();
        let hash = crate::hash_password("pw-123456").unwrap();
        let mut tasks = Vec::new();
        let pool = Arc::new(pool);
        for _ in 0..8 {
            let (p, h) = (Arc::clone(&pool), hash.clone());
            tasks.push(tokio::spawn(async move {
                p.check("pw-123456".into(), Some(h)).await
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert!(answers.contains(&Ok(true)), "{answers:?}");
        assert!(answers.contains(&Err(Busy)), "{answers:?}");
    }
}
