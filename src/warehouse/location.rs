//! Where a warehouse lives: a folder on this machine, or a prefix of an S3 bucket
//! (`--warehouse s3://bucket/prefix`), and the object store that reaches the bucket.
//!
//! S3 is reached with object_store's own client (no AWS SDK): its settings come from the usual
//! `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`), and S3-compatible servers are reached with `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT`), `AWS_ALLOW_HTTP=true` for a plain-http endpoint, and path-style requests
//! (the default; `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true` for the other style). A secret is never
//! part of an error or a log line: errors name the bucket and the variables to check.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use crate::error::{Error, Result};

/// A warehouse's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3(S3Prefix),
}

/// `s3://bucket/prefix`: a bucket and the key prefix of the warehouse in it (no slashes at
/// either end; empty for a warehouse at the bucket's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Prefix {
    pub bucket: String,
    pub prefix: String,
}

impl Location {
    /// The place `--warehouse` (or a job file's `warehouse`) names.
    pub fn parse(given: &Path) -> Result<Location> {
        let text = given.to_string_lossy();
        let Some(rest) = text.strip_prefix("s3://") else {
            if text.contains("://") {
                return Err(Error::Usage(format!(
                    "{text}: a warehouse is a local folder or an s3://bucket/prefix URL"
                )));
            }
            return Ok(Location::Local(given.to_path_buf()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's own rule for bucket names: 3 to 63 of a-z, 0-9, '.' and '-'.
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid_bucket {
            return Err(Error::Usage(format!(
                "{text}: {bucket:?} is not an S3 bucket name (3 to 63 of a-z, 0-9, '.' and '-')"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..") {
            return Err(Error::Usage(format!(
                "{text}: a warehouse prefix has no '.' or '..' parts"
            )));
        }
        Ok(Location::S3(S3Prefix {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }))
    }
}

impl S3Prefix {
    /// `s3://bucket/prefix` (for messages).
    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The URL of the bucket, under which the store is registered with DataFusion.
    pub fn bucket_url(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    /// The URL of `rel` (a path inside the warehouse, `/`-separated).
    pub fn url_of(&self, rel: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key_text(rel))
    }

    /// The object key of `rel` inside the warehouse.
    pub fn key(&self, rel: &str) -> ObjectPath {
        ObjectPath::from(self.key_text(rel))
    }

    fn key_text(&self, rel: &str) -> String {
        let rel = rel.trim_start_matches('/');
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// A client for the bucket, configured from the `AWS_*` variables.
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .build()
            .map_err(|e| self.error(&e))?;
        Ok(Arc::new(store))
    }

    /// What went wrong reaching the bucket, and what to check; never a secret.
    pub fn error(&self, e: &object_store::Error) -> Error {
        use object_store::Error as E;
        let place = self.display();
        let text = e.to_string();
        let refused = matches!(e, E::PermissionDenied { .. } | E::Unauthenticated { .. })
            || [
                "403",
                "Forbidden",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
            ]
            .iter()
            .any(|s| text.contains(s));
        if refused {
            Error::Config(format!(
                "{place}: S3 refused the credentials for bucket {}: check AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, AWS_REGION) and that they may read \
                 the bucket",
                self.bucket
            ))
        } else if text.contains("NoSuchBucket") {
            Error::MissingInput(format!(
                "{place}: there is no bucket {} at this endpoint: check the bucket name and \
                 AWS_ENDPOINT_URL / AWS_REGION",
                self.bucket
            ))
        } else if matches!(e, E::NotFound { .. }) {
            Error::MissingInput(format!("{place}: not found"))
        } else {
            Error::Io {
                path: place,
                source: std::io::Error::other(format!(
                    "{}; check AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for an http:// \
                     endpoint), AWS_REGION and the network",
                    redact(&text)
                )),
            }
        }
    }
}

/// `text` without the values of the secret variables, should a client ever echo one.
fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for var in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(secret) = std::env::var(var) {
            if secret.len() >= 4 {
                out = out.replace(&secret, "<redacted>");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warehouse_is_a_folder_or_an_s3_prefix() {
        assert_eq!(
            Location::parse(Path::new("wh")).expect("a folder"),
            Location::Local(PathBuf::from("wh"))
        );
        let Location::S3(p) = Location::parse(Path::new("s3://dwh/double11/")).expect("s3") else {
            panic!("an s3 location");
        };
        assert_eq!((p.bucket.as_str(), p.prefix.as_str()), ("dwh", "double11"));
        assert_eq!(p.display(), "s3://dwh/double11");
        assert_eq!(p.url_of("transactions/"), "s3://dwh/double11/transactions/");
        assert_eq!(p.key("manifest.json").as_ref(), "double11/manifest.json");
        let Location::S3(root) = Location::parse(Path::new("s3://dw-2")).expect("s3") else {
            panic!("an s3 location");
        };
        assert_eq!(root.key("manifest.json").as_ref(), "manifest.json");
        for bad in [
            "s3://",
            "s3://A_B/x",
            "s3://ab",
            "s3://dwh/a/../x",
            "gs://dw/x",
        ] {
            assert!(Location::parse(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
