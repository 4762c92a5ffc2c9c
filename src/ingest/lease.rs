//! The ingest lock of a lake on S3, which has no file locks: a lease object
//! `_ingest/lock` naming the ingest that holds it. It is created only if
//! absent (S3's conditional write), renewed with a compare-and-swap on its
//! ETag while the ingest runs, and deleted at the end by its holder only. A
//! lease not renewed for [`LEASE`] is a crashed ingest's and is taken over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::s3::{Condition, S3};
use crate::lake::Location;

/// A lease not renewed for this long is taken over.
pub const LEASE: chrono::Duration = chrono::Duration::hours(6);
/// A live ingest renews its lease this often (between batches).
const RENEW_AFTER: Duration = Duration::from_secs(3_600);

#[derive(Serialize, Deserialize)]
struct Lease {
    run_id: String,
    /// When it was taken or last renewed, seconds since the epoch.
    taken: i64,
}

/// A lease this ingest holds; released when dropped.
pub struct Held {
    lake: Location,
    store: Arc<S3>,
    bucket: String,
    key: String,
    run_id: String,
    etag: String,
    renewed: Instant,
}

fn lease_bytes(run_id: &str) -> Vec<u8> {
    serde_json::to_vec(&Lease {
        run_id: run_id.to_owned(),
        taken: chrono::Utc::now().timestamp(),
    })
    .expect("a lease is plain data")
}

/// Takes the lease of the lake (an S3 location), or says it is busy.
pub fn take(lake: &Location, run_id: &str) -> Result<Held> {
    let Location::S3 { store, bucket, key } = lake.join("_ingest/lock") else {
        unreachable!("only S3 lakes take leases")
    };
    let busy = || Error::IngestBusy {
        lake: lake.as_path(),
    };
    let held = |etag: String| Held {
        lake: lake.clone(),
        store: Arc::clone(&store),
        bucket: bucket.clone(),
        key: key.clone(),
        run_id: run_id.to_owned(),
        etag,
        renewed: Instant::now(),
    };
    let put = |condition| store.block_on(store.put(&bucket, &key, lease_bytes(run_id), condition));
    if let Some(etag) = put(Condition::Absent)? {
        return Ok(held(etag));
    }
    let Some((bytes, Some(etag))) = store.block_on(store.get_tagged(&bucket, &key, None, None))?
    else {
        return Err(busy()); // released meanwhile: the next try takes it
    };
    match serde_json::from_slice::<Lease>(&bytes) {
        // Ours: the answer to our own write was lost and the write retried.
        Ok(lease) if lease.run_id == run_id => Ok(held(etag)),
        Ok(lease) if chrono::Utc::now().timestamp() - lease.taken <= LEASE.num_seconds() => {
            Err(busy())
        }
        // A crashed ingest's (or unreadable): take it over, unless another
        // ingest does so first.
        _ => put(Condition::Unchanged(etag))?.map(held).ok_or_else(busy),
    }
}

impl Held {
    /// Renews the lease if it is due; fails if another ingest took it.
    pub fn renew(&mut self) -> Result<()> {
        if self.renewed.elapsed() < RENEW_AFTER {
            return Ok(());
        }
        let bytes = lease_bytes(&self.run_id);
        let condition = Condition::Unchanged(self.etag.clone());
        let store = &self.store;
        match store.block_on(store.put(&self.bucket, &self.key, bytes, condition))? {
            Some(etag) => {
                self.etag = etag;
                self.renewed = Instant::now();
                Ok(())
            }
            None => Err(Error::IngestBusy {
                lake: self.lake.as_path(),
            }),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let store = &self.store;
        let ours = store
            .block_on(store.get_tagged(&self.bucket, &self.key, None, None))
            .ok()
            .flatten()
            .and_then(|(bytes, _)| serde_json::from_slice::<Lease>(&bytes).ok())
            .is_some_and(|lease| lease.run_id == self.run_id);
        if !ours {
            return;
        }
        if let Err(e) = store.block_on(store.delete(&self.bucket, &self.key)) {
            tracing::warn!(lake = %self.lake, error = %e, "Could not release the ingest lease; the next ingest takes it over once it is 6 hours old.");
        }
    }
}
