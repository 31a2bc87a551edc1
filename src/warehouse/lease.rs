//! The writer lock of a warehouse on S3: a lease object, `_double11/writer.lease`.
//!
//! A local warehouse is locked with an OS file lock that the kernel drops when the writer
//! dies. S3 has no such thing, so a writer puts a lease, `{owner, host, pid, expires_at}`,
//! only if absent (`PutMode::Create`), renews it every [`TTL`]/3 from a thread of its own
//! (`PutMode::Update` on the ETag it last wrote), and deletes it when it is done. A lease
//! whose writer died is taken over (`PutMode::Update` on the ETag read: of two writers taking
//! it over, one wins) once it has expired, or at once when its writer ran on this machine and
//! its process is gone (so that a re-run after a kill need not wait).
//!
//! The lease keeps two writers from working at the same time; it is not what keeps the
//! warehouse correct. That is the commits: each table commit lands at exactly the Delta
//! version after the pinned one or fails, and the warehouse version is put only if absent, so
//! a writer that lost its lease (paused longer than the TTL) cannot commit over another's work.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::warehouse::delta;
use crate::warehouse::location::S3Prefix;

/// Where the lease lives, under the warehouse.
pub(crate) const LEASE_FILE: &str = "_double11/writer.lease";
/// How long a lease lasts unless renewed.
const TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
struct Body {
    owner: String,
    host: String,
    pid: u32,
    /// Milliseconds since the Unix epoch.
    expires_at: i64,
}

/// A held lease; renewed until dropped, then released.
pub(crate) struct Lease {
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
    store: Arc<dyn ObjectStore>,
    key: object_store::path::Path,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lease {}", self.key)
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether process `pid` of this machine is running (unknown counts as running).
fn alive(pid: u32) -> bool {
    let proc_dir = std::path::Path::new("/proc");
    !proc_dir.exists() || proc_dir.join(pid.to_string()).exists()
}

fn body(owner: &str) -> Result<PutPayload> {
    let ttl = i64::try_from(TTL.as_millis()).unwrap_or(i64::MAX);
    let body = Body {
        owner: owner.to_string(),
        host: host(),
        pid: std::process::id(),
        expires_at: chrono::Utc::now().timestamp_millis().saturating_add(ttl),
    };
    Ok(PutPayload::from(
        serde_json::to_vec(&body).map_err(|e| Error::Other(e.into()))?,
    ))
}

fn version_of(result: &object_store::PutResult) -> UpdateVersion {
    UpdateVersion {
        e_tag: result.e_tag.clone(),
        version: result.version.clone(),
    }
}

impl Lease {
    /// Takes the lease of the warehouse at `prefix`, or says who holds it ([`Error::Busy`]).
    pub(crate) fn take(prefix: &S3Prefix, store: Arc<dyn ObjectStore>) -> Result<Lease> {
        let key = prefix.key(LEASE_FILE);
        let owner = format!(
            "{}:{}:{}",
            host(),
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        );
        let place = prefix.display();
        let taken = {
            let (store, key, owner) = (Arc::clone(&store), key.clone(), owner.clone());
            let place = place.clone();
            delta::block_on(async move {
                let create = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match store.put_opts(&key, body(&owner)?, create).await {
                    Ok(done) => return Ok(Some(version_of(&done))),
                    Err(object_store::Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(prefix.error(&e)),
                }
                let found = match store.get(&key).await {
                    Ok(found) => found,
                    // Released in between: the next attempt will tell.
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(prefix.error(&e)),
                };
                let held = UpdateVersion {
                    e_tag: found.meta.e_tag.clone(),
                    version: found.meta.version.clone(),
                };
                let bytes = found.bytes().await.map_err(|e| prefix.error(&e))?;
                let current: Option<Body> = serde_json::from_slice(&bytes).ok();
                let free = match &current {
                    None => true, // not a lease this double11 wrote: treat it as expired
                    Some(b) => {
                        b.expires_at < chrono::Utc::now().timestamp_millis()
                            || (b.host == host() && !alive(b.pid))
                    }
                };
                if !free {
                    let b = current
                        .as_ref()
                        .ok_or_else(|| Error::Other(anyhow::anyhow!("a lease without a body")))?;
                    return Err(Error::Busy(format!(
                        "{place}: another double11 (process {} on {}) is writing to this \
                         warehouse (its lease {LEASE_FILE} is renewed while it runs); run again \
                         when it has finished",
                        b.pid, b.host
                    )));
                }
                let update = PutOptions {
                    mode: PutMode::Update(held),
                    ..Default::default()
                };
                match store.put_opts(&key, body(&owner)?, update).await {
                    Ok(done) => Ok(Some(version_of(&done))),
                    Err(object_store::Error::Precondition { .. }) => Ok(None),
                    Err(e) => Err(prefix.error(&e)),
                }
            })?
        };
        let version = taken.ok_or_else(|| {
            Error::Busy(format!(
                "{place}: another double11 took this warehouse's writer lease at the same time; \
                 run again when it has finished"
            ))
        })?;
        let version = Arc::new(Mutex::new(version));
        let (stop, stopped) = mpsc::channel::<()>();
        let renewer = {
            let (store, key, version) = (Arc::clone(&store), key.clone(), Arc::clone(&version));
            let place = place.clone();
            std::thread::spawn(move || loop {
                match stopped.recv_timeout(TTL / 3) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let held = match version.lock() {
                    Ok(v) => v.clone(),
                    Err(_) => return,
                };
                let (store, key, owner) = (Arc::clone(&store), key.clone(), owner.clone());
                let renewed = delta::block_on(async move {
                    let update = PutOptions {
                        mode: PutMode::Update(held),
                        ..Default::default()
                    };
                    store
                        .put_opts(&key, body(&owner)?, update)
                        .await
                        .map(|done| version_of(&done))
                        .map_err(|e| Error::Other(e.into()))
                });
                match renewed {
                    Ok(v) => {
                        if let Ok(mut held) = version.lock() {
                            *held = v;
                        }
                    }
                    Err(e) => tracing::warn!(
                        "{place}: could not renew the writer lease ({e}); the commit will \
                         still refuse to overwrite another writer's work"
                    ),
                }
            })
        };
        Ok(Lease {
            stop: Some(stop),
            renewer: Some(renewer),
            store,
            key,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
        let (store, key) = (Arc::clone(&self.store), self.key.clone());
        let _ =
            delta::block_on(
                async move { store.delete(&key).await.map_err(|e| Error::Other(e.into())) },
            );
    }
}
