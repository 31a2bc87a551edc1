//! How the scheduler and the executors of a cluster reach the warehouse's storage: from the
//! session, not from files or variables on each machine.
//!
//! A query's plan names its files as URLs (`file:///…` or `s3://bucket/…`). The scheduler
//! decodes the plan and the executors read the files, so both need an object store for each
//! URL. The client puts the S3 settings it uses itself (endpoint, region, plain-http, path
//! style, credentials: its `AWS_*` variables) into the session as `double11.s3_*` options;
//! Ballista copies a session's options to the scheduler and into every task, and
//! [`runtime_for`] turns them into an [`ObjectStoreRegistry`] that builds one S3 client per
//! bucket on first use. An option the client did not set falls back to the node's own `AWS_*`
//! variable, so a cluster whose machines carry their own credentials (an instance role) needs
//! none in the session.
//!
//! Ballista drops the options of an extension a node does not know, so the same
//! [`config`] producer (our extension registered) is used by the client, the scheduler and
//! the executors.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::ObjectStore;
use url::Url;

/// The S3 settings a session hands to the cluster (`double11.s3_*`): each set option by its
/// name in [`KEYS`], its value from the client's `AWS_*` variables. Its `Debug` shows the names
/// only: the values hold credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StoreOptions(BTreeMap<&'static str, String>);

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

// By hand, not with DataFusion's `extensions_options!`: the macro's entries leave out the
// `double11.` prefix, so Ballista would send keys no node can set.
impl ExtensionOptions for StoreOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let Some((name, _, _)) = KEYS.iter().find(|(name, _, _)| *name == key) else {
            return Err(DataFusionError::Configuration(format!(
                "double11.{key} is not a setting (the double11.s3_* settings are {})",
                KEYS.map(|k| k.0).join(", ")
            )));
        };
        if value.is_empty() {
            self.0.remove(name);
        } else {
            self.0.insert(name, value.to_string());
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        KEYS.iter()
            .map(|(name, _, vars)| ConfigEntry {
                key: format!("{}.{name}", Self::PREFIX),
                value: self.get(name).map(str::to_string),
                description: vars[0],
            })
            .collect()
    }
}

impl ConfigExtension for StoreOptions {
    const PREFIX: &'static str = "double11";
}

/// Each option with the `object_store` key it sets and the variables the client reads it from.
const KEYS: [(&str, AmazonS3ConfigKey, &[&str]); 7] = [
    (
        "s3_endpoint",
        AmazonS3ConfigKey::Endpoint,
        &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"],
    ),
    (
        "s3_region",
        AmazonS3ConfigKey::Region,
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
    ),
    (
        "s3_allow_http",
        AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp),
        &["AWS_ALLOW_HTTP"],
    ),
    (
        "s3_virtual_hosted_style_request",
        AmazonS3ConfigKey::VirtualHostedStyleRequest,
        &["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"],
    ),
    (
        "s3_access_key_id",
        AmazonS3ConfigKey::AccessKeyId,
        &["AWS_ACCESS_KEY_ID"],
    ),
    (
        "s3_secret_access_key",
        AmazonS3ConfigKey::SecretAccessKey,
        &["AWS_SECRET_ACCESS_KEY"],
    ),
    (
        "s3_session_token",
        AmazonS3ConfigKey::Token,
        &["AWS_SESSION_TOKEN"],
    ),
];

impl StoreOptions {
    /// The settings of this process's `AWS_*` variables (what the client itself uses).
    pub fn from_env() -> StoreOptions {
        let mut options = StoreOptions::default();
        for (name, _, vars) in KEYS {
            let value = vars.iter().find_map(|v| std::env::var(v).ok());
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                options.0.insert(name, value);
            }
        }
        options
    }

    /// The value of option `name` (`s3_endpoint`, ...), if the session set it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A client for `bucket`: this node's `AWS_*` variables, overridden by every option the
    /// session set.
    fn s3_store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (name, key, _) in KEYS {
            if let Some(value) = self.get(name) {
                builder = builder.with_config(key, value);
            }
        }
        let store = builder.build().map_err(|e| {
            DataFusionError::Configuration(format!(
                "s3://{bucket}: cannot make an S3 client from the session's double11.s3_* \
                 settings and this node's AWS_* variables: {e}"
            ))
        })?;
        Ok(Arc::new(store))
    }
}

/// The session configuration every node starts from: Ballista's, with our options known.
pub fn config() -> SessionConfig {
    use ballista_core::extension::SessionConfigExt;
    SessionConfig::new_with_ballista().with_option_extension(StoreOptions::default())
}

/// The runtime of a session on the scheduler or an executor: its object stores from the
/// session's options, spill files under `spill_dir`.
pub fn runtime_for(config: &SessionConfig, spill_dir: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    let options = config
        .options()
        .extensions
        .get::<StoreOptions>()
        .cloned()
        .unwrap_or_default();
    let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(Stores {
        known: DefaultObjectStoreRegistry::new(),
        options,
    }));
    if let Some(dir) = spill_dir {
        builder = builder.with_temp_file_path(dir);
    }
    builder.build_arc()
}

/// `file://` as usual; an `s3://bucket` store made on first use from the session's options.
#[derive(Debug)]
struct Stores {
    known: DefaultObjectStoreRegistry,
    options: StoreOptions,
}

impl ObjectStoreRegistry for Stores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        match (url.scheme(), url.host_str()) {
            ("s3", Some(bucket)) => {
                let store = self.options.s3_store(bucket)?;
                let bucket_url = Url::parse(&format!("s3://{bucket}"))
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                self.known.register_store(&bucket_url, Arc::clone(&store));
                Ok(store)
            }
            _ => self.known.get_store(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballista_core::extension::SessionConfigHelperExt;

    fn options(pairs: &[(&str, &str)]) -> StoreOptions {
        let mut options = StoreOptions::default();
        for (key, value) in pairs {
            options.set(key, value).expect("a known setting");
        }
        options
    }

    #[test]
    fn the_s3_settings_travel_in_the_session() {
        let sent = options(&[
            ("s3_endpoint", "http://127.0.0.1:8333"),
            ("s3_secret_access_key", "secret"),
        ]);
        let client = config().with_option_extension(sent.clone());
        let pairs = client.to_key_value_pairs();
        let node = config().update_from_key_value_pair(&pairs);
        let got = node.options().extensions.get::<StoreOptions>().cloned();
        assert_eq!(
            got.as_ref(),
            Some(&sent),
            "{:?}",
            pairs
                .iter()
                .filter(|p| p.key.starts_with("double11"))
                .map(|p| &p.key)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            got.as_ref().and_then(|o| o.get("s3_endpoint")),
            Some("http://127.0.0.1:8333")
        );
    }

    #[test]
    fn unknown_settings_are_refused_and_empty_ones_unset() {
        let mut o = options(&[("s3_region", "us-east-1")]);
        let e = o.set("s3_bucket", "x").expect_err("not a setting");
        assert!(e.to_string().contains("s3_endpoint"), "{e}");
        o.set("s3_region", "").expect("known");
        assert_eq!(o, StoreOptions::default());
    }

    #[test]
    fn debug_never_shows_a_credential() {
        let o = options(&[
            ("s3_access_key_id", "AKIAEXAMPLE"),
            ("s3_secret_access_key", "hunter2"),
            ("s3_session_token", "tok3n"),
        ]);
        let shown = format!(
            "{o:?} {:?}",
            Stores {
                known: DefaultObjectStoreRegistry::new(),
                options: o.clone()
            }
        );
        for secret in ["AKIAEXAMPLE", "hunter2", "tok3n"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("s3_secret_access_key"), "{shown}");
    }
}
