//! The bytes of uploaded files, on disk under the data directory, each stored under its SHA-256
//! (`content/ab/abcdef…`) and never under a name a user chose, so no upload can pick a path.
//!
//! An upload is streamed chunk by chunk into a temporary file (never held in memory whole), hashed
//! on the way, flushed to disk, and renamed into place; only then is the item that refers to it
//! committed. Files no item refers to any more are removed by [`Blobs::sweep`], which leaves young
//! files alone so that it never races an upload between its rename and its commit; renaming into
//! place and the sweep's check-then-remove hold one lock, so an upload of bytes identical to an old
//! unused file cannot have its fresh file removed under it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// More bytes than allowed.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The request body broke off or was malformed.
    #[error("the upload broke off: {0}")]
    Body(String),
    /// The disk failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Why a body being streamed to disk broke off.
pub trait BodyError: std::fmt::Display {
    /// The request's body went over its size limit (a file over the limit by more than the
    /// room the body's limit leaves around it).
    fn too_large(&self) -> bool;
}

impl BodyError for String {
    fn too_large(&self) -> bool {
        false
    }
}

impl BodyError for std::io::Error {
    fn too_large(&self) -> bool {
        false
    }
}

impl BodyError for std::convert::Infallible {
    fn too_large(&self) -> bool {
        match *self {}
    }
}

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The file store.
#[derive(Clone, Debug)]
pub struct Blobs {
    dir: PathBuf,
    /// Held while a file is renamed into place, and while the sweep checks and removes one.
    placing: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Blobs {
    /// The store under `data_dir/content`.
    pub fn new(data_dir: &Path) -> Blobs {
        Blobs {
            dir: data_dir.join("content"),
            placing: Default::default(),
        }
    }

    /// Where the file with this hash lives (the hash is checked to be hex, so it is a plain name).
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        let hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| self.dir.join(&sha256[..2]).join(sha256))
    }

    /// Streams `body` to disk, refusing more than `limit` bytes (also when the body itself was cut
    /// for being too large). Nothing is left behind on error.
    pub async fn write<S, E>(&self, mut body: S, limit: u64) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: BodyError,
    {
        let tmp_dir = self.dir.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let tmp = tmp_dir.join(uuid::Uuid::now_v7().to_string());
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    if e.too_large() {
                        BlobError::TooLarge { limit }
                    } else {
                        BlobError::Body(e.to_string())
                    }
                })?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(BlobError::TooLarge { limit });
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
            }
            // The item that refers to the file is acknowledged only after this returns.
            file.sync_all().await?;
            let sha256: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Ok(StoredBlob { sha256, size })
        }
        .await;
        let blob = match result {
            Ok(blob) => blob,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        // A hex hash always gives a path.
        let path = self.path(&blob.sha256).unwrap_or_default();
        let parent = path.parent().unwrap_or(&self.dir).to_owned();
        tokio::fs::create_dir_all(&parent).await?;
        // The same bytes may be stored already; either way the file at `path` is complete.
        let placing = self.placing.lock().await;
        tokio::fs::rename(&tmp, &path).await?;
        drop(placing);
        // Make the rename itself durable.
        tokio::fs::File::open(&parent).await?.sync_all().await?;
        Ok(blob)
    }

    /// Removes stored files that no item refers to, and abandoned uploads, if older than
    /// `min_age`. Returns how many were removed.
    pub async fn sweep(
        &self,
        referenced: &HashSet<String>,
        min_age: Duration,
    ) -> std::io::Result<usize> {
        let mut removed = 0;
        let Ok(mut dirs) = tokio::fs::read_dir(&self.dir).await else {
            return Ok(0);
        };
        while let Some(dir) = dirs.next_entry().await? {
            if !dir.file_type().await?.is_dir() {
                continue;
            }
            let mut files = tokio::fs::read_dir(dir.path()).await?;
            while let Some(file) = files.next_entry().await? {
                let name = file.file_name().to_string_lossy().into_owned();
                if dir.file_name() != "tmp" && referenced.contains(&name) {
                    continue;
                }
                let _placing = self.placing.lock().await;
                // Read the age under the lock: a file renamed into place just now is young.
                let Ok(meta) = tokio::fs::metadata(file.path()).await else {
                    continue; // gone already
                };
                let old = meta.modified()?.elapsed().is_ok_and(|age| age >= min_age);
                if old {
                    tokio::fs::remove_file(file.path()).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn files_are_stored_under_their_hash_and_swept_when_unused() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let blob = blobs
            .write(chunks(&[b"hello ", b"world"]), 100)
            .await
            .unwrap();
        assert_eq!(
            blob.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(blob.size, 11);
        let path = blobs.path(&blob.sha256).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");

        let err = blobs.write(chunks(&[b"0123456789", b"x"]), 10).await;
        assert!(matches!(err, Err(BlobError::TooLarge { limit: 10 })));
        let leftovers = std::fs::read_dir(dir.path().join("content/tmp"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 0, "a refused upload leaves nothing behind");

        let used: HashSet<String> = [blob.sha256.clone()].into();
        assert_eq!(blobs.sweep(&used, Duration::ZERO).await.unwrap(), 0);
        assert_eq!(
            blobs
                .sweep(&HashSet::new(), Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            blobs.sweep(&HashSet::new(), Duration::ZERO).await.unwrap(),
            1
        );
        assert!(!path.exists());
        assert!(blobs.path("../../etc/passwd").is_none());
    }
}
