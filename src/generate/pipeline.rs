//! Rendering on every core. Drawing a day's events is sequential (the GMV steering, the rings
//! of recent orders for refunds and re-deliveries, the counts and the truth all depend on
//! what came before), but turning an event into text depends only on the event and its own
//! style seed. So the day's thread draws and hands out blocks of line jobs, one worker per core
//! renders blocks into bytes, and one writer puts the bytes out in the order the blocks were
//! drawn (and opens and closes the files between them). Blocks in flight are bounded, so a slow
//! reader of `--stdout` holds back the drawing instead of filling memory.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

use crate::error::{Error, Result};

use super::sink::Output;

/// Line jobs per block: rendering one takes a few milliseconds, so handing it over is cheap.
pub(crate) const BLOCK: usize = 4096;

/// Blocks drawn but not yet written, per worker.
const IN_FLIGHT_PER_WORKER: usize = 4;

/// What the writer does next, in draw order.
enum Step {
    Bytes(Vec<u8>),
    /// A worker's render panicked (a bug: it renders drawn events, no user input): the
    /// writer stops with this message instead of waiting for the block forever.
    Failed(String),
    Open(PathBuf),
    Close,
}

/// The drawing thread's end of the pipeline.
pub(crate) struct Feed<J> {
    next: u64,
    work: SyncSender<(u64, Vec<J>)>,
    steps: Sender<(u64, Step)>,
    tokens: Receiver<()>,
    /// Rendered blocks' job vectors, emptied, to be filled again (fresh allocations of this
    /// size cost page faults every time).
    spare: Receiver<Vec<J>>,
}

/// The writer (or a worker) has stopped; its own error is the one reported.
fn stopped() -> Error {
    Error::Other(anyhow::anyhow!("the generator's writer stopped"))
}

impl<J> Feed<J> {
    /// An empty vector for the next block.
    pub(crate) fn spare(&self) -> Vec<J> {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK))
    }

    /// Hands a block of jobs to the workers; waits while too many blocks are in flight.
    pub(crate) fn lines(&mut self, jobs: Vec<J>) -> Result<()> {
        self.tokens.recv().map_err(|_| stopped())?;
        self.work.send((self.next, jobs)).map_err(|_| stopped())?;
        self.next += 1;
        Ok(())
    }

    /// Closes the current output, if any, and starts the file `path` (after every block
    /// handed over so far).
    pub(crate) fn open(&mut self, path: PathBuf) -> Result<()> {
        self.step(Step::Open(path))
    }

    /// Finishes the current output after every block handed over so far.
    pub(crate) fn close(&mut self) -> Result<()> {
        self.step(Step::Close)
    }

    fn step(&mut self, step: Step) -> Result<()> {
        self.steps.send((self.next, step)).map_err(|_| stopped())?;
        self.next += 1;
        Ok(())
    }
}

/// Runs `draw` on a thread of its own with a [`Feed`], `workers` threads rendering its blocks
/// with `render`, and the writer on this thread (standard output is locked to it), putting the
/// bytes into `out`, which is finished at the end. `draw`'s result, or the first error of the
/// writer or of `draw`.
pub(crate) fn run<J: Send, T: Send>(
    mut out: Output,
    workers: usize,
    render: &(dyn Fn(&[J], &mut Vec<u8>) + Sync),
    draw: impl FnOnce(Feed<J>) -> Result<T> + Send,
) -> Result<T> {
    let workers = workers.max(1);
    let in_flight = workers * IN_FLIGHT_PER_WORKER;
    let (work_tx, work_rx) = sync_channel::<(u64, Vec<J>)>(in_flight);
    let work_rx = Mutex::new(work_rx);
    let (steps_tx, steps_rx) = channel::<(u64, Step)>();
    let (tokens_tx, tokens_rx) = sync_channel::<()>(in_flight);
    let (spare_jobs_tx, spare_jobs_rx) = channel::<Vec<J>>();
    let (spare_bytes_tx, spare_bytes_rx) = channel::<Vec<u8>>();
    let spare_bytes_rx = Mutex::new(spare_bytes_rx);
    for _ in 0..in_flight {
        tokens_tx.send(()).map_err(|_| stopped())?;
    }
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (work_rx, steps_tx) = (&work_rx, steps_tx.clone());
            let (spare_bytes_rx, spare_jobs_tx) = (&spare_bytes_rx, spare_jobs_tx.clone());
            s.spawn(move || loop {
                let next = match work_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((seq, mut jobs)) = next else { return };
                let spare = spare_bytes_rx.lock().ok().and_then(|rx| rx.try_recv().ok());
                let mut bytes = spare.unwrap_or_default();
                let rendered = catch_unwind(AssertUnwindSafe(|| render(&jobs, &mut bytes)));
                if let Err(panic) = rendered {
                    let _ = steps_tx.send((seq, Step::Failed(panic_message(&*panic))));
                    return;
                }
                jobs.clear();
                // The drawing thread may be gone already; then the vector is dropped.
                let _ = spare_jobs_tx.send(jobs);
                if steps_tx.send((seq, Step::Bytes(bytes))).is_err() {
                    return;
                }
            });
        }
        let feed = Feed {
            next: 0,
            work: work_tx,
            steps: steps_tx,
            tokens: tokens_rx,
            spare: spare_jobs_rx,
        };
        drop(spare_jobs_tx);
        // `draw` consumes the feed: when it returns, the workers run dry and the writer ends.
        let drawer = s.spawn(move || draw(feed));
        // On an error the writer drops its ends, so the drawer and the workers stop too.
        let written = write(&mut out, steps_rx, tokens_tx, spare_bytes_tx);
        let drawn = drawer.join().map_err(|_| {
            Error::Other(anyhow::anyhow!("the generator's drawing thread panicked"))
        })?;
        written?;
        let value = drawn?;
        out.close()?;
        Ok(value)
    })
}

/// The text a panic was raised with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Puts the steps out in sequence order, returning a token for every block written.
fn write(
    out: &mut Output,
    steps: Receiver<(u64, Step)>,
    tokens: SyncSender<()>,
    spare: Sender<Vec<u8>>,
) -> Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    for (seq, step) in steps {
        pending.insert(seq, step);
        while let Some(step) = pending.remove(&next) {
            next += 1;
            match step {
                Step::Bytes(mut bytes) => {
                    out.write(&bytes)?;
                    bytes.clear();
                    let _ = spare.send(bytes);
                    // The drawing thread may be gone already; then nobody needs the token.
                    let _ = tokens.try_send(());
                }
                Step::Failed(message) => {
                    return Err(Error::Other(anyhow::anyhow!(
                        "the generator failed to render a block of lines: {message} (a bug: please report it)"
                    )))
                }
                Step::Open(path) => out.open_file(&path)?,
                Step::Close => out.close()?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::generate::GenCompression;

    /// Blocks of numbers rendered one per line, block `panic_at` (if any) panicking.
    fn run_blocks(path: PathBuf, blocks: u32, panic_at: Option<u32>) -> Result<()> {
        let render = move |jobs: &[u32], bytes: &mut Vec<u8>| {
            for &job in jobs {
                if panic_at == Some(job / 10) {
                    panic!("block {} cannot be rendered", job / 10);
                }
                bytes.extend_from_slice(format!("{job}\n").as_bytes());
            }
        };
        let out = Output::new(GenCompression::None, b"n\n".to_vec());
        run(out, 3, &render, |mut feed| {
            feed.open(path)?;
            for block in 0..blocks {
                let mut jobs = feed.spare();
                jobs.extend(block * 10..block * 10 + 10);
                feed.lines(jobs)?;
            }
            feed.close()
        })
    }

    /// Runs `f` on a thread of its own; `None` if it has not returned within a minute.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(60)).ok()
    }

    #[test]
    fn blocks_are_written_in_draw_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("n.csv");
        let target = path.clone();
        let result = within_a_minute(move || run_blocks(target, 200, None)).expect("returns");
        assert!(result.is_ok(), "{result:?}");
        let text = std::fs::read_to_string(&path).expect("written");
        let expected: String = std::iter::once("n".to_string())
            .chain((0..2000).map(|n| n.to_string()))
            .map(|l| l + "\n")
            .collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn a_panicking_renderer_stops_the_run_with_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("n.csv");
        // More blocks than can be in flight: without the error step the drawing thread would
        // wait for a token forever.
        let result = within_a_minute(move || run_blocks(path, 200, Some(5))).expect("no hang");
        let message = result.expect_err("an error").to_string();
        assert!(
            message.contains("failed to render") && message.contains("block 5 cannot"),
            "{message}"
        );
    }
}
