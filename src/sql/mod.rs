//! The SQL side: a DataFusion session over the warehouse's tables.
//!
//! Tables (`transactions`, `per_second`, `per_hour`, `rejects`, `duplicates`, `fx_rates`) are
//! plain Parquet listing tables over the warehouse folders, with the schema from
//! [`crate::schema`] and `cst_date` as a Hive partition column, so a date filter prunes
//! folders and the Parquet statistics prune row groups and pages. The folders are seen
//! through [`pinned_store`]: only the files of the warehouse version the session opened (the
//! Delta versions it pins). No UDF and no bespoke table provider: the same SQL runs on a
//! Ballista cluster (`--cluster`, [`crate::cluster`]), which reads exactly the files this
//! session's plan names.
//!
//! `transactions` reads its text columns of a few values as views into the pages'
//! dictionaries and casts them back to `Utf8` above the scan, so a filter on one compares views
//! and only the rows it keeps are copied (see `register`).
//!
//! A session adds to DataFusion's planning, through DataFusion's own extension points:
//! three physical optimizer rules, [`orderings`] (puts back the sorts a DataFusion 55 bug drops:
//! an `ORDER BY rank, buyer_id` over a `GROUP BY buyer_id`), [`row_filters`] (a scan filters
//! rows while decoding them only for a filter on an id) and [`rank_top`] (answers `WHERE
//! rank() <= K` with a top K instead of a sort of every row); and row estimates that know each
//! event type's share of `transactions`, from `per_hour` ([`event_shares`]), so that a join
//! builds its table from the small side. A cluster session plans here too
//! ([`crate::cluster::planner`]) with the three rules, whose nodes travel by
//! [`crate::cluster::codec`]; not with the estimates: Ballista's settings join by sort-merge,
//! which has no build side.

mod event_shares;
pub(crate) mod literals;
pub(crate) mod orderings;
pub(crate) mod params;
pub(crate) mod pinned_store;
mod rank_top;
mod row_filters;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Column;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{provider_as_source, ViewTable};
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{cast, col, Expr, LogicalPlanBuilder};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::prelude::DataFrame;
use datafusion::sql::parser::DFParser;

use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::warehouse::manifest::Manifest;
use crate::warehouse::tables::{self, Table};
use crate::warehouse::Warehouse;

/// Whether SQL may change anything (`INSERT`, `COPY`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// The query memory limit and its variable, defined with the other settings (kept here for
/// the error that advises raising it).
pub use crate::settings::{DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV};

/// Hash partitions per core for DataFusion's repartitioned operators. A grouped aggregation
/// with many groups (the summary's distinct buyers: 41 M of them at 130 M orders) builds one
/// hash table per partition: 16 small tables per core stay in cache better than one large one,
/// and each gets its own share of the memory pool, so fewer of them spill. Measured on 2
/// cores, `report summary` went from 2.5-2.8 s to 1.6-1.7 s at 10 M orders and from 32-71 s
/// (12 spills) to 29 s at 130 M; the reports over `per_second` did not change (0.1-0.2 s).
const PARTITIONS_PER_CORE: usize = 16;

/// A partial (per input partition) aggregation that merges fewer than 10 rows into one is
/// skipped: its rows go straight to the final, hash-partitioned one. With many groups (the
/// summary's 257 K sellers at 13 M orders merge 2.3 rows into one) the partial tables are large
/// and miss the cache on every row, while the final tables are 32 times smaller; skipping
/// halved the distinct-seller count (1.5-2.3 s -> 0.8-1.1 s). DataFusion's default (0.8) only
/// skips when nearly every row is its own group.
const SKIP_PARTIAL_AGGREGATION_RATIO: f64 = 0.1;

/// A session with every table of the warehouse registered, its query memory limited to
/// `settings.memory_limit` (an invalid limit is reported here, when SQL is about to run).
pub async fn session(wh: &Warehouse, settings: &Settings) -> Result<SessionContext> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(settings.memory_limit()?)))
        .build_arc()?;
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(settings.threads() * PARTITIONS_PER_CORE)
        // Per scan instead: see [`row_filters`].
        .set_bool("datafusion.execution.parquet.pushdown_filters", false)
        .set_bool("datafusion.execution.parquet.reorder_filters", true);
    config
        .options_mut()
        .execution
        .skip_partial_aggregation_probe_ratio_threshold = SKIP_PARTIAL_AGGREGATION_RATIO;
    if wh.remote().is_none() {
        config.set_extension(Arc::new(WarehouseRoot(
            wh.root().to_path_buf(),
            wh.pinned().clone(),
        )));
    }
    let ctx = match &settings.cluster {
        None => SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(runtime)
                .with_default_features()
                .with_physical_optimizer_rules(physical_rules())
                .build(),
        ),
        Some(cluster) => {
            cluster.check_reachable()?;
            // The executors reach S3 with the settings this process uses.
            let s3 = wh
                .remote()
                .map(|_| crate::cluster::stores::StoreOptions::from_env());
            SessionContext::new_with_state(crate::cluster::session_state(
                config, runtime, cluster, s3,
            )?)
        }
    };
    let urls = tables::ALL
        .iter()
        .map(|table| Ok((*table, table_url(wh, table)?)))
        .collect::<Result<Vec<_>>>()?;
    // Each table folder shows the files of the pinned version only.
    let (store_url, inner): (url::Url, Arc<dyn object_store::ObjectStore>) = match wh.remote() {
        Some(remote) => (
            url::Url::parse(&remote.prefix.bucket_url())
                .map_err(|e| Error::Usage(format!("{}: {e}", remote.prefix.display())))?,
            Arc::clone(&remote.store),
        ),
        None => (
            url::Url::parse("file://").map_err(|e| Error::Other(e.into()))?,
            Arc::new(object_store::local::LocalFileSystem::new()),
        ),
    };
    let folders: Vec<_> = urls.iter().map(|(_, u)| u.prefix().clone()).collect();
    let files = wh.pinned().files.iter().filter_map(|f| {
        let (table, rel) = f.path.split_once('/')?;
        let (_, url) = urls.iter().find(|(t, _)| t.name == table)?;
        let mut key = url.prefix().clone();
        for part in rel.split('/') {
            key = key.join(part);
        }
        Some(key)
    });
    let view = pinned_store::PinnedStore::new(inner, folders, files);
    ctx.register_object_store(&store_url, Arc::new(view));
    for (table, url) in urls {
        register(&ctx, table, url)?;
    }
    if settings.cluster.is_none() {
        // Estimates only: without them (a failed read, as under a tiny memory limit) the
        // session plans as DataFusion alone would, and the query reports its own errors.
        let shares = event_shares::EventShares::read(&ctx)
            .await
            .unwrap_or_else(|e| {
                tracing::debug!("event type shares not read from per_hour: {e}");
                None
            });
        if let Some(shares) = shares {
            let mut state = SessionStateBuilder::new_from_existing(ctx.state())
                .with_statistics_registry(shares.registry())
                .build();
            state
                .config_mut()
                .options_mut()
                .optimizer
                .use_statistics_registry = true;
            return Ok(SessionContext::new_with_state(state));
        }
    }
    Ok(ctx)
}

/// DataFusion's physical optimizer rules with double11's three: [`orderings`] (just before the
/// query's own output ordering is dropped), [`row_filters`] (just before filters are pushed
/// into scans) and [`rank_top`] (last). Local and cluster sessions plan with these.
pub(crate) fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = orderings::rules();
    row_filters::insert(&mut rules);
    rules.push(Arc::new(rank_top::RankTop));
    rules
}

/// The URL of `table`'s folder.
fn table_url(wh: &Warehouse, table: &Table) -> Result<ListingTableUrl> {
    Ok(match wh.remote() {
        Some(remote) => ListingTableUrl::parse(remote.prefix.url_of(&format!("{}/", table.name)))?,
        None => {
            let dir = wh.table_dir(table.name);
            let dir =
                std::path::absolute(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
            ListingTableUrl::parse(format!("{}/", dir.display()))?
        }
    })
}

/// Registers `table` as a Parquet listing table over its folder `url`, with the partition
/// column and the file order its descriptor gives; a table with `dictionary_text` columns as a
/// view over one that reads those as `Utf8View`.
fn register(ctx: &SessionContext, table: &Table, url: ListingTableUrl) -> Result<()> {
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if let Some(column) = table.partition {
        options = options.with_table_partition_cols(vec![(column.to_string(), DataType::Date32)]);
    }
    let declared = table.declared_order();
    if !declared.is_empty() {
        let order = declared.iter().map(|c| col(*c).sort(true, false)).collect();
        options = options.with_file_sort_order(vec![order]);
    }
    let stored = table.schema();
    let read_as_view = |field: &Field| {
        table.dictionary_text.contains(&field.name().as_str())
            && field.data_type() == &DataType::Utf8
    };
    let read = Schema::new_with_metadata(
        stored
            .fields()
            .iter()
            .map(|f| {
                if read_as_view(f) {
                    Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
                } else {
                    Arc::clone(f)
                }
            })
            .collect::<Vec<_>>(),
        stored.metadata().clone(),
    );
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(Arc::new(read));
    let files = Arc::new(ListingTable::try_new(config)?);
    if !stored.fields().iter().any(|f| read_as_view(f)) {
        ctx.register_table(table.name, files)?;
        return Ok(());
    }
    // The text of a few values is read as views into each page's dictionary and cast back to
    // `Utf8` above the scan: SQL sees the table's own types, while a filter on such a column
    // (`province = 'Zhejiang'`, which DataFusion unwraps to a comparison of views) runs in the
    // scan on views, and only the rows it keeps are copied as text. Grouping stays on `Utf8`:
    // DataFusion 55's grouping of views reserves 2 MiB per stream and partition (BENCHMARKS.md,
    // stop 29). Top categories in one province, 19 M records: 0.39-0.41 s -> 0.26-0.28 s (stop 38).
    let mut columns: Vec<Expr> = stored
        .fields()
        .iter()
        .map(|f| {
            let column = Expr::Column(Column::new(Some(table.name), f.name()));
            if read_as_view(f) {
                cast(column, DataType::Utf8).alias(f.name())
            } else {
                column
            }
        })
        .collect();
    if let Some(partition) = table.partition {
        columns.push(Expr::Column(Column::new(Some(table.name), partition)));
    }
    let plan = LogicalPlanBuilder::scan(table.name, provider_as_source(files), None)?
        .project(columns)?
        .build()?;
    ctx.register_table(table.name, Arc::new(ViewTable::new(plan, None)))?;
    Ok(())
}

/// The warehouse a session reads, kept in its configuration so that [`diagnose`] can find
/// the damaged file behind a failed query wherever the query ran.
struct WarehouseRoot(std::path::PathBuf, Manifest);

/// Names the damaged file(s) behind a query that failed because a Parquet file could not be
/// read ([`Error::DamagedWarehouse`]): checks the footers of the session's warehouse (see
/// [`crate::warehouse::parquet_files::find_damage`]) and returns an [`Error::Data`] (exit
/// 65) listing each file, why, the run that wrote it and what to do. Other errors pass
/// through unchanged.
pub fn diagnose(ctx: &SessionContext, e: Error) -> Error {
    let Error::DamagedWarehouse(cause) = &e else {
        return e;
    };
    let Some(root) = ctx.state().config().get_extension::<WarehouseRoot>() else {
        return e;
    };
    let (root, manifest) = (&root.0, &root.1);
    let found = crate::warehouse::parquet_files::find_damage(root, manifest);
    if found.is_empty() {
        return Error::Data(format!(
            "{cause}: a Parquet file of the warehouse {} is damaged where its footer is intact; \
             {}",
            root.display(),
            crate::warehouse::parquet_files::DAMAGED_ADVICE
        ));
    }
    let mut msg = format!(
        "{cause}: the warehouse {} has damaged files:",
        root.display()
    );
    for d in &found {
        let by = match &d.run_id {
            Some(run) => format!(" (written by run {run})"),
            None => String::new(),
        };
        msg.push_str(&format!(
            "\n  {}{by}: {}",
            root.join(&d.path).display(),
            d.reason
        ));
    }
    msg.push_str(&format!(
        "\nFor each file: {}.",
        crate::warehouse::parquet_files::DAMAGED_ADVICE
    ));
    Error::Data(msg)
}

/// Splits `sql` into statements and plans each one, refusing writes when read-only. A
/// `TIMESTAMP` literal with a UTC offset keeps its instant ([`literals`]).
/// Returns one DataFrame per statement, in order; the caller executes and prints them.
pub(crate) async fn plan_statements(
    ctx: &SessionContext,
    sql: &str,
    access: Access,
) -> Result<Vec<DataFrame>> {
    let statements = DFParser::parse_sql(sql)?;
    let options = SQLOptions::new()
        .with_allow_ddl(true)
        .with_allow_dml(access == Access::ReadWrite)
        .with_allow_statements(true);
    let mut frames = Vec::with_capacity(statements.len());
    for mut statement in statements {
        literals::keep_offsets(&mut statement)?;
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        options.verify_plan(&plan).map_err(|e| {
            Error::Sql(format!(
                "{}; the warehouse is read-only here (pass --writable to allow changes)",
                e.find_root()
            ))
        })?;
        frames.push(ctx.execute_logical_plan(plan).await?);
    }
    Ok(frames)
}
