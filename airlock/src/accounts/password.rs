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

/// How many nice steps the hashing threads sit below the async workers (Linux). Ten steps is a
/// tenth of a worker's weight in the scheduler: under load the session checks come
/// first (their p99 during a sign-in storm fell from about 3.5 to 1.7 times the quiet one in
/// `bench/run`), and sign-ins still get a share, never starved.
const HASHING_NICE_STEPS: i32 = 10;

/// The highest (least favoured) nice value Linux has.
const NICEST: i32 = 19;

type Job = Box<dyn FnOnce() + Send>;

/// `concurrency` threads that do nothing but hash; they end when the last sender is dropped.
/// Clones share the threads.
#[derive(Clone)]
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
/// Relative to the process's own nice value, so an airlock already started under `nice` keeps
/// the same distance between its workers and its hashing.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = Some(rustix::thread::gettid());
        let lowered = getpriority_process(thread)
            .and_then(|nice| setpriority_process(thread, (nice + HASHING_NICE_STEPS).min(NICEST)));
        if let Err(e) = lowered {
            tracing::warn!(error = %e, "cannot lower the priority of the password hashing threads");
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    threads: HashingThreads,
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
        Ok(Self { threads: HashingThreads::start(concurrency.max(1))?, dummy_hash })
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
        #[cfg(target_os = "linux")]
        let own = rustix::process::getpriority_process(None).unwrap();
        let (name, nice) = hasher
            .off_worker(|| {
                let name = std::thread::current().name().map(str::to_owned);
                #[cfg(target_os = "linux")]
                let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
                #[cfg(not(target_os = "linux"))]
                let nice = 0; // No thread priorities to check elsewhere: only the name is.
                (name, nice)
            })
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("airlock-argon2-")));
        #[cfg(target_os = "linux")]
        assert_eq!(nice, (own + HASHING_NICE_STEPS).min(NICEST), "the process runs at nice {own}");
        // A panicking job is an error for its caller, and the threads go on.
        assert!(hasher.off_worker(|| panic!("boom")).await.is_err());
        assert!(hasher.off_worker(|| panic!("boom")).await.is_err());
        assert_eq!(hasher.off_worker(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn work_queued_for_a_caller_that_gave_up_is_skipped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let hasher = PasswordHasher::new(1).unwrap();
        // The only thread is held until the test lets it go.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, holding) = tokio::sync::oneshot::channel::<()>();
        let busy = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                hasher
                    .off_worker(move || {
                        let _ = started.send(());
                        held.recv().is_ok()
                    })
                    .await
            }
        });
        holding.await.unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let queued = hasher.off_worker(move || flag.store(true, Ordering::SeqCst));
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(50), queued).await;
        assert!(gave_up.is_err(), "the queued job answered while the only thread was held");
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        // Jobs run in order: once this one has, the abandoned one was reached and skipped.
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
