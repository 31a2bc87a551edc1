//! The SQL shell: a small layer over a DataFusion `SessionContext`.
//!
//! `-c` and `-f` run statements and exit; without them an interactive prompt with history
//! and multi-line statements starts. Printing is [`crate::output`]'s job, backslash commands
//! are [`commands`]'; this file only reads statements and hands them on.

pub(crate) mod commands;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use datafusion::execution::context::SessionContext;
use rustyline::error::ReadlineError;

use crate::error::{Error, Result};
use crate::output::{self, Format};
use crate::sql::{plan_statements, Access};
use commands::Command;

/// How the shell prints and what it may do.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    pub format: Format,
    pub timing: bool,
    pub access: Access,
}

/// Runs every statement of `sql` and prints each result to stdout. A damaged warehouse file
/// is named (exit 65), see [`crate::sql::diagnose`].
pub(crate) async fn run_sql(ctx: &SessionContext, sql: &str, opts: &ShellOptions) -> Result<()> {
    run_statements(ctx, sql, opts)
        .await
        .map_err(|e| crate::sql::diagnose(ctx, e))
}

async fn run_statements(ctx: &SessionContext, sql: &str, opts: &ShellOptions) -> Result<()> {
    if opts.format == Format::Parquet && std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "Parquet is binary: redirect stdout to a file (> out.parquet) or use `double11 export`"
                .into(),
        ));
    }
    let started = Instant::now();
    let frames = plan_statements(ctx, sql, opts.access).await?;
    let mut stdout = std::io::stdout().lock();
    for frame in frames {
        let schema = frame.schema().inner().clone();
        let batches = frame.collect().await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if schema.fields().is_empty() {
            continue; // DDL such as CREATE VIEW: nothing to print
        }
        output::write(&mut stdout, &schema, &batches, opts.format)?;
        if opts.timing {
            // Timing goes to stderr so that CSV or JSON on stdout stays clean.
            eprintln!(
                "{rows} row{} in {:.3} s",
                if rows == 1 { "" } else { "s" },
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Runs `-c` text: a backslash command (`\dt`, `\d TABLE`) or SQL statements.
pub async fn run_text(ctx: &SessionContext, text: &str, opts: &ShellOptions) -> Result<()> {
    let trimmed = text.trim();
    if !trimmed.starts_with('\\') {
        return run_sql(ctx, text, opts).await;
    }
    match commands::parse(trimmed)? {
        Command::Describe(t) if !commands::table_exists(ctx, &t) => Err(Error::Usage(format!(
            "no table {t:?}; \\dt lists the tables"
        ))),
        Command::Help => {
            println!("{}", commands::HELP);
            Ok(())
        }
        command => match commands::sql_for(&command) {
            Some(sql) => run_sql(ctx, &sql, opts).await,
            None => Ok(()),
        },
    }
}

/// Runs the statements of a SQL file; errors name the file.
pub async fn run_file(ctx: &SessionContext, path: &PathBuf, opts: &ShellOptions) -> Result<()> {
    let name = path.display().to_string();
    let sql = std::fs::read_to_string(path).map_err(|e| Error::io(&name, e))?;
    run_sql(ctx, &sql, opts).await.map_err(|e| match e {
        Error::Sql(msg) => Error::Sql(format!("{name}: {msg}")),
        other => other,
    })
}

/// The interactive prompt. Errors in a statement are printed and the prompt goes on.
pub async fn interactive(ctx: &SessionContext, mut opts: ShellOptions) -> Result<()> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the line editor: {e}")))?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("double11 SQL shell. End statements with ';'. \\? for help, \\q to quit.");
    let mut statement = String::new();
    loop {
        let prompt = if statement.is_empty() {
            "double11> "
        } else {
            "      -> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if statement.is_empty() && trimmed.starts_with('\\') {
                    let _ = editor.add_history_entry(trimmed);
                    match commands::parse(trimmed) {
                        Ok(Command::Quit) => break,
                        Ok(command) => run_command(ctx, &command, &mut opts).await,
                        Err(e) => eprintln!("error: {e}"),
                    }
                    continue;
                }
                if trimmed.is_empty() && statement.is_empty() {
                    continue;
                }
                statement.push_str(&line);
                statement.push('\n');
                if trimmed.ends_with(';') {
                    let _ = editor.add_history_entry(statement.trim());
                    if let Err(e) = run_sql(ctx, &statement, &opts).await {
                        eprintln!("error: {e}");
                    }
                    statement.clear();
                }
            }
            Err(ReadlineError::Interrupted) => statement.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Other(anyhow::anyhow!("reading input: {e}"))),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

async fn run_command(ctx: &SessionContext, command: &Command, opts: &mut ShellOptions) {
    match command {
        Command::Help => println!("{}", commands::HELP),
        Command::SetFormat(f) => opts.format = *f,
        Command::ToggleTiming => {
            opts.timing = !opts.timing;
            println!("timing {}", if opts.timing { "on" } else { "off" });
        }
        Command::Describe(t) if !commands::table_exists(ctx, t) => {
            eprintln!("error: no table {t:?}; \\dt lists the tables");
        }
        other => {
            if let Some(sql) = commands::sql_for(other) {
                let quiet = ShellOptions {
                    timing: false,
                    ..opts.clone()
                };
                if let Err(e) = run_sql(ctx, &sql, &quiet).await {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    let _ = std::io::stdout().flush();
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".double11_history"))
}
