//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane), never on the
//! async workers: on `concurrency` threads of its own, at a lower CPU priority than the
//! workers, so a sign-in storm gets the cores the session checks leave, not the other way round.

use crate::error::{Error, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Longest password accepted: argon2 takes any length, but nothing legitimate needs more.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The nice value of the hashing threads (Linux; 0 is the workers'). At 10 a busy hashing
/// thread weighs a tenth of a worker in the scheduler: under load the session checks come
/// first (their p99 during a sign-in storm fell from about 3.5 to 1.7 times the quiet one in
/// `bench/run`), and sign-ins still get a share, never starved.
const HASHING_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// `concurrency` threads that do nothing but hash; they end when the last sender is dropped.
struct HashingThreads {
    jobs: crossbeam_channel::Sender<Job>,
}

impl HashingThreads {
    fn start(count: usize) -> Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for index in 0..count {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("airlock-argon2-{index}"))
                .spawn(move || {
                    lower_priority();
                    for job in queue {
                        // A panicking job loses its answer (the caller gets an error), not the thread.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .map_err(Error::internal)?;
        }
        Ok(Self { jobs })
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A caller that gave up while queued (its request dropped) costs no hashing.
            if !answer.is_closed() {
                let _ = answer.send(work());
            }
        });
        self.jobs.send(job).map_err(Error::internal)?;
        answered.await.map_err(Error::internal)
    }
}

/// Best effort: where it cannot be lowered, hashing still works, at the workers' priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICE) {
        tracing::warn!(error = %e, "cannot lower the priority of the password hashing threads");
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    threads: Arc<HashingThreads>,
    /// Verified when the email is unknown, so that both failures cost the same time.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1. Infallible constants.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(Error::internal)
}

fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Result<Self> {
        let dummy_hash = hash_now("airlock timing equaliser")?.into();
        Ok(Self { threads: Arc::new(HashingThreads::start(concurrency.max(1))?), dummy_hash })
    }

    async fn off_worker<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        self.threads.run(work).await
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String> {
        check_password(password)?;
        let password = password.to_owned();
        self.off_worker(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `phc`. With no hash (unknown user, or a user without a
    /// password) a dummy hash is verified instead and the answer is false: the caller cannot
    /// tell the cases apart by time.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool> {
        let password = password.to_owned();
        let (phc, real) = match phc {
            Some(phc) => (phc.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let matched = self.off_worker(move || verify_now(&password, &phc)).await?;
        Ok(real && matched)
    }
}

/// Rules for a new password.
pub fn check_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < 8 {
        return Err(Error::bad_request("the password must be at least 8 characters"));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::bad_request(format!("the password must be at most {MAX_PASSWORD_LEN} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let hasher = PasswordHasher::new(1).unwrap();
        let a = hasher.hash("correct horse battery").await.unwrap();
        let b = hasher.hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(a, b);
        assert!(hasher.verify("correct horse battery", Some(&a)).await.unwrap());
        assert!(!hasher.verify("wrong horse battery", Some(&a)).await.unwrap());
        assert!(!hasher.verify("airlock timing equaliser", None).await.unwrap());
        assert!(!hasher.verify("x", Some("not a phc string")).await.unwrap());
    }

    #[tokio::test]
    async fn hashing_runs_on_its_own_threads_below_the_workers() {
        let hasher = PasswordHasher::new(2).unwrap();
        let (name, nice) = hasher
            .off_worker(|| {
                let name = std::thread::current().name().map(str::to_owned);
                #[cfg(target_os = "linux")]
                let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok();
                #[cfg(not(target_os = "linux"))]
                let nice = Some(HASHING_NICE);
                (name, nice)
            })
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("airlock-argon2-")));
        // At least that: a test runner already nicer than it keeps its own value.
        assert!(nice.is_some_and(|n| n >= HASHING_NICE), "{nice:?}");
        // A panicking job is an error for its caller, and the threads go on.
        assert!(hasher.off_worker(|| panic!("boom")).await.is_err());
        assert!(hasher.off_worker(|| panic!("boom")).await.is_err());
        assert_eq!(hasher.off_worker(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn work_queued_for_a_caller_that_gave_up_is_skipped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let hasher = PasswordHasher::new(1).unwrap();
        let busy = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.off_worker(|| std::thread::sleep(std::time::Duration::from_millis(300))).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            hasher.off_worker(move || flag.store(true, Ordering::SeqCst)),
        )
        .await;
        assert!(gave_up.is_err(), "the queued job answered while the only thread was busy");
        busy.await.unwrap().unwrap();
        assert_eq!(hasher.off_worker(|| 1).await.unwrap(), 1);
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job was run");
    }

    #[test]
    fn password_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        assert!(check_password("long enough").is_ok());
    }
}
