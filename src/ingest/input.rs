//! Finding input files and opening them as decompressed byte streams.
//!
//! The file name says the format (`*.csv`, `*.jsonl`, `*.ndjson`, each optionally `.gz` or
//! `.zst`); standard input (`-`) is sniffed instead. Folders are walked and their log files
//! taken in path order, which is also the de-duplication order the contract fixes.
//!
//! An inbox may hold things that cannot be read: a symlink loop, a dangling link, a FIFO (which
//! would block a reader forever), a file without read permission, a `.gz` or `.zst` that is
//! not what its name says. Each is found here, before anything is read, and becomes an
//! input marked [`Input::unreadable`] with the reason: the run reads everything else, lists
//! these in its summary and manifest, and does not count them as ingested, so a later run
//! tries them again.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};

/// Read buffer for inputs: large enough that decompressors and the parsers stay busy.
const READ_BUFFER: usize = 1 << 20;
/// The first bytes of gzip and zstd data.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// How the records of a file are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Csv,
    Ndjson,
}

/// How the bytes of a file are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One input to ingest: a file, or standard input.
#[derive(Debug, Clone)]
pub struct Input {
    /// How the input is named in summaries, the manifest and the rejects table.
    pub name: String,
    /// `None` for standard input.
    pub path: Option<PathBuf>,
    pub encoding: Option<Encoding>,
    pub compression: Option<Compression>,
    /// Why the input cannot be read, when that is known before reading it: it is then
    /// skipped, and listed with this reason.
    pub unreadable: Option<String>,
    /// The S3 object this input is (read from its fetched copy at `path`).
    pub remote: Option<crate::ingest::remote::RemoteObject>,
}

impl Input {
    /// How the warehouse's ledger names the input: its `s3://` URL, or its absolute path.
    pub fn ledger_name(&self) -> Option<String> {
        if let Some(remote) = &self.remote {
            return Some(remote.url.clone());
        }
        self.path.as_deref().map(|path| {
            std::path::absolute(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display()
                .to_string()
        })
    }
}

/// Encoding and compression from a file name, or `None` when it is not a log file.
pub fn kind_from_name(name: &str) -> Option<(Encoding, Compression)> {
    let lower = name.to_ascii_lowercase();
    let (stem, compression) = if let Some(s) = lower.strip_suffix(".gz") {
        (s.to_string(), Compression::Gzip)
    } else if let Some(s) = lower.strip_suffix(".zst") {
        (s.to_string(), Compression::Zstd)
    } else {
        (lower, Compression::None)
    };
    let encoding = if stem.ends_with(".csv") {
        Encoding::Csv
    } else if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
        Encoding::Ndjson
    } else {
        return None;
    };
    Some((encoding, compression))
}

/// Expands the command-line arguments (files, folders, globs, `-`) into inputs, in order.
///
/// A folder contributes its log files sorted by path; other files in it, and names starting
/// with `_` or `.` (side files such as `_fx_rates.csv`, as Hive and Spark skip `_SUCCESS`),
/// are skipped with a debug message. A named file must exist and be a log file; a glob must match something.
pub fn resolve_inputs(args: &[String]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input {
                name: "<stdin>".into(),
                path: None,
                encoding: None,
                compression: None,
                unreadable: None,
                remote: None,
            });
            continue;
        }
        if crate::ingest::remote::is_remote(arg) {
            inputs.extend(crate::ingest::remote::list(arg)?);
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            inputs.extend(folder_inputs(path)?);
        } else if path.exists() || path.is_symlink() {
            inputs.push(file_input(path)?);
        } else if arg.contains(['*', '?', '[']) {
            let pattern =
                glob::glob(arg).map_err(|e| Error::Usage(format!("bad glob {arg:?}: {e}")))?;
            let mut matched: Vec<PathBuf> = Vec::new();
            for entry in pattern {
                let p = entry.map_err(|e| {
                    let at = e.path().display().to_string();
                    Error::io(at, e.into())
                })?;
                if !p.is_dir() && kind_from_name(&p.to_string_lossy()).is_some() {
                    matched.push(p);
                }
            }
            if matched.is_empty() {
                return Err(Error::MissingInput(format!(
                    "{arg}: the glob matched no log file"
                )));
            }
            matched.sort();
            for p in matched {
                inputs.push(file_input(&p)?);
            }
        } else {
            return Err(Error::MissingInput(format!(
                "{arg}: no such file or folder (check the path; use - for standard input)"
            )));
        }
    }
    Ok(inputs)
}

fn file_input(path: &Path) -> Result<Input> {
    let name = path.display().to_string();
    let (encoding, compression) = kind_from_name(&name).ok_or_else(|| {
        Error::Usage(format!(
            "{name}: not a log file name; expected *.csv, *.jsonl or *.ndjson, optionally .gz or .zst"
        ))
    })?;
    let unreadable = why_unreadable(path, compression);
    Ok(Input {
        name,
        path: Some(path.to_path_buf()),
        encoding: Some(encoding),
        compression: Some(compression),
        unreadable,
        remote: None,
    })
}

/// An input that cannot be read (a walk error, say), named by its path.
fn unreadable_input(path: &Path, reason: String) -> Input {
    let kind = kind_from_name(&path.display().to_string());
    Input {
        name: path.display().to_string(),
        path: Some(path.to_path_buf()),
        encoding: kind.map(|k| k.0),
        compression: kind.map(|k| k.1),
        unreadable: Some(reason),
        remote: None,
    }
}

/// Why the log file at `path` cannot be read, found without reading more than its first
/// bytes (so a FIFO is never opened: it would wait for a writer), or `None` when it can be.
fn why_unreadable(path: &Path, compression: Compression) -> Option<String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if path.is_symlink() => {
            return Some(match e.raw_os_error() {
                Some(40) => "a symbolic link loop: point the link at a log file or remove it".into(),
                _ => format!("a symbolic link to nothing readable ({e}): point it at a log file or remove it"),
            });
        }
        Err(e) => return Some(format!("cannot be read ({e})")),
    };
    if !meta.is_file() {
        return Some(
            "not a regular file (a FIFO, socket or device): double11 reads files; pipe the data to `double11 ingest -` instead"
                .into(),
        );
    }
    let mut head = Vec::with_capacity(ZSTD_MAGIC.len());
    if let Err(e) =
        File::open(path).and_then(|f| f.take(ZSTD_MAGIC.len() as u64).read_to_end(&mut head))
    {
        return Some(format!("cannot be read ({e}); check its permissions"));
    }
    if head.is_empty() {
        return None; // an empty log, whatever its name says
    }
    let (want, what) = match compression {
        Compression::None => return None,
        Compression::Gzip => (GZIP_MAGIC, "gzip"),
        Compression::Zstd => (ZSTD_MAGIC, "zstd"),
    };
    (!head.starts_with(want) && !want.starts_with(&head)).then(|| {
        format!(
            "named as {what} but is not {what} data (it starts with bytes {head:02x?}): rename it to what it holds, or replace it with the {what} file it should be"
        )
    })
}

fn folder_inputs(dir: &Path) -> Result<Vec<Input>> {
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !e.file_name().to_string_lossy().starts_with(['_', '.'])
        });
    let mut broken = Vec::new();
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                // A loop, a dangling link, a folder that cannot be listed: skipped and listed,
                // so the rest of the folder is read.
                let at = e.path().unwrap_or(dir).to_path_buf();
                let reason = if e.loop_ancestor().is_some() {
                    "a symbolic link loop: point the link at a log file or folder, or remove it"
                        .to_string()
                } else if at.is_symlink() {
                    format!("a symbolic link to nothing readable ({e}): point it at a log file or remove it")
                } else {
                    format!("cannot be read ({e}); check its permissions")
                };
                broken.push((at, reason));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let name = entry.path().display().to_string();
        if kind_from_name(&name).is_some() {
            files.push(entry.into_path());
        } else {
            tracing::debug!("skipping {name}: not a log file name");
        }
    }
    let mut inputs: Vec<(PathBuf, Input)> = files
        .into_iter()
        .map(|p| file_input(&p).map(|i| (p, i)))
        .collect::<Result<_>>()?;
    inputs.extend(
        broken
            .into_iter()
            .map(|(p, reason)| (p.clone(), unreadable_input(&p, reason))),
    );
    inputs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(inputs.into_iter().map(|(_, i)| i).collect())
}

/// A byte stream of one input, decompressed, counting the raw bytes read for progress.
pub struct OpenedInput {
    pub reader: Box<dyn BufRead + Send>,
    pub encoding: Encoding,
    /// The most to ask of `reader` in one read. Plain text: twice its buffer, so that
    /// `BufReader` passes such a read straight to the file instead of copying every byte
    /// through its own buffer first. Compressed text: less than its buffer, as before, because
    /// a decompressor that meets damage fails the whole read, and what that read had decoded
    /// before the damage is lost with it.
    pub read_size: usize,
}

/// Counts bytes as they are read, for the progress bar, and hashes them when asked to.
struct Counting<R> {
    inner: R,
    progress: Option<indicatif::ProgressBar>,
    checksum: Option<RunningChecksum>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        if let Some(sum) = &self.checksum {
            sum.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// The [`checksum`] of an input file taken from the bytes its reader reads, instead of in a
/// read of its own beforehand: for a file no earlier run and no other input of this run can
/// have the same bytes as ([`crate::ingest::plan::unseen`]), whose checksums therefore
/// decide nothing before it is read. Reading each byte once instead of twice saved 4 % of an
/// ingest's CPU, and the first file's parsing no longer waits for its hash (BENCHMARKS.md,
/// stop 37).
#[derive(Clone, Default)]
pub struct RunningChecksum(Arc<Mutex<(blake3::Hasher, u64)>>);

impl RunningChecksum {
    fn update(&self, bytes: &[u8]) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.0.update(bytes);
        state.1 += bytes.len() as u64;
    }

    /// The checksums of the whole file at `path`: of the bytes read, then of the rest of the
    /// file from there, since reading may stop before the end (a file that is not a log,
    /// damage in compressed data). Bytes appended meanwhile are covered, as [`checksum`]
    /// covers those appended before it.
    pub fn finish(self, path: &Path, name: &str) -> Result<Checksums> {
        let (hasher, read) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let io_error = |e| Error::io(name, e);
        let mut file = File::open(path).map_err(io_error)?;
        file.seek(SeekFrom::Start(read)).map_err(io_error)?;
        hash_to_end(hasher, file, name, None)
    }
}

/// Opens an input for reading. Standard input is sniffed: gzip and zstd by their magic
/// bytes, NDJSON by a leading `{`, CSV otherwise; `forced` overrides the encoding. With
/// `checksum`, the raw bytes are hashed as they are read.
pub fn open(
    input: &Input,
    forced: Option<Encoding>,
    progress: Option<indicatif::ProgressBar>,
    checksum: Option<RunningChecksum>,
) -> Result<OpenedInput> {
    let raw: Box<dyn Read + Send> = match &input.path {
        Some(path) => Box::new(File::open(path).map_err(|e| Error::io(&input.name, e))?),
        None => Box::new(io::stdin()),
    };
    let mut raw = BufReader::with_capacity(
        READ_BUFFER,
        Counting {
            inner: raw,
            progress,
            checksum,
        },
    );
    let compression = match input.compression {
        Some(c) => c,
        None => {
            let head = raw.fill_buf().map_err(|e| Error::io(&input.name, e))?;
            if head.starts_with(GZIP_MAGIC) {
                Compression::Gzip
            } else if head.starts_with(ZSTD_MAGIC) {
                Compression::Zstd
            } else {
                Compression::None
            }
        }
    };
    // A zero-byte file is an empty log whatever its name says ("a file may be empty"), not a
    // damaged archive.
    let is_empty = raw
        .fill_buf()
        .map_err(|e| Error::io(&input.name, e))?
        .is_empty();
    let compression = if is_empty {
        Compression::None
    } else {
        compression
    };
    let mut reader: Box<dyn BufRead + Send> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            flate2::bufread::MultiGzDecoder::new(raw),
        )),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| Error::io(&input.name, e))?;
            Box::new(BufReader::with_capacity(READ_BUFFER, decoder))
        }
    };
    let encoding = match forced.or(input.encoding) {
        Some(e) => e,
        None => {
            let head = reader
                .fill_buf()
                .map_err(|e| Error::corrupt(&input.name, e))?;
            let first = head
                .iter()
                .find(|b| !b.is_ascii_whitespace() && **b != 0xef && **b != 0xbb && **b != 0xbf);
            if first == Some(&b'{') {
                Encoding::Ndjson
            } else {
                Encoding::Csv
            }
        }
    };
    let read_size = match compression {
        Compression::None => 2 * READ_BUFFER,
        Compression::Gzip | Compression::Zstd => READ_BUFFER / 4,
    };
    Ok(OpenedInput {
        reader,
        encoding,
        read_size,
    })
}

/// Size and BLAKE3 checksum of a file, read in one pass, so a re-run can recognise inputs it
/// has already ingested; with `prefix`, also the checksum of the file's first `prefix` bytes,
/// so a run can tell a log that grew (same start) from one that was replaced.
pub fn checksum(path: &Path, name: &str, prefix: Option<u64>) -> Result<Checksums> {
    let io_error = |e| Error::io(name, e);
    let mut file = File::open(path).map_err(io_error)?;
    let mut hasher = blake3::Hasher::new();
    let mut prefix_hash = None;
    // `update_reader` reads 64 KiB at a time: BLAKE3 then hashes 16 of its 1 KiB chunks side
    // by side (AVX-512), where `io::copy`'s 8 KiB reads fed it 8, with 8 times the system calls.
    if let Some(n) = prefix {
        hasher
            .update_reader((&mut file).take(n))
            .map_err(io_error)?;
        if file.stream_position().map_err(io_error)? == n {
            prefix_hash = Some(hasher.finalize().to_hex().to_string());
        }
    }
    hash_to_end(hasher, file, name, prefix_hash)
}

/// The checksums of a file whose bytes up to its read position are in `hasher`: the rest is
/// hashed, and its end is its size.
fn hash_to_end(
    mut hasher: blake3::Hasher,
    mut file: File,
    name: &str,
    prefix_blake3: Option<String>,
) -> Result<Checksums> {
    let io_error = |e| Error::io(name, e);
    hasher.update_reader(&mut file).map_err(io_error)?;
    Ok(Checksums {
        size: file.stream_position().map_err(io_error)?,
        blake3: hasher.finalize().to_hex().to_string(),
        prefix_blake3,
    })
}

/// The [`checksum`]s of input files, computed on another thread one file ahead of the one
/// being read, so that hashing a file overlaps parsing the one before it.
///
/// A checksum computed ahead is used only if the file's size and modification time are still
/// those it had while it was hashed; a file that changed since (a log still being written) is
/// hashed again when its turn comes, as it always was.
pub struct ChecksumsAhead {
    ready: Receiver<(usize, Stamp, Result<Checksums>)>,
    next: Option<(usize, Stamp, Result<Checksums>)>,
}

/// Size and modification time of a file.
type Stamp = Option<(u64, std::time::SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// An input file to checksum ahead: its number among the inputs, path, name, the prefix
/// length as for [`checksum`], and the S3 object to fetch to `path` first, if it is one.
pub struct Ahead {
    pub n: usize,
    pub path: PathBuf,
    pub name: String,
    pub prefix: Option<u64>,
    pub remote: Option<crate::ingest::remote::RemoteObject>,
}

impl ChecksumsAhead {
    /// Starts hashing `files`, in input order (fetching each remote one first).
    pub fn start(files: Vec<Ahead>) -> Self {
        let (tx, ready) = sync_channel(1);
        std::thread::spawn(move || {
            for Ahead {
                n,
                path,
                name,
                prefix,
                remote,
            } in files
            {
                let fetched = match &remote {
                    Some(object) => crate::ingest::remote::fetch_one(object, &path),
                    None => Ok(()),
                };
                let before = stamp(&path);
                let sums = fetched.and_then(|()| checksum(&path, &name, prefix));
                let unchanged = before.filter(|b| stamp(&path).as_ref() == Some(b));
                if tx.send((n, unchanged, sums)).is_err() {
                    return; // the run ended
                }
            }
        });
        ChecksumsAhead { ready, next: None }
    }

    /// The checksums of input `n`, `input`, as [`checksum`] gives them now. A remote input is
    /// fetched by then (or its fetch's error is returned).
    pub fn get(&mut self, n: usize, input: &Input, prefix: Option<u64>) -> Result<Checksums> {
        let path = input
            .path
            .as_deref()
            .ok_or_else(|| Error::Other(anyhow::anyhow!("{}: no file to checksum", input.name)))?;
        loop {
            let message = match self.next.take() {
                Some(m) => m,
                None => match self.ready.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            if message.0 < n {
                continue;
            }
            if message.0 > n {
                self.next = Some(message);
                break;
            }
            match (message.1, message.2) {
                (Some(then), Ok(sums)) if stamp(path) == Some(then) => return Ok(sums),
                // An object that could not be fetched: say why, in S3's words.
                (_, Err(e)) if input.remote.is_some() => return Err(e),
                _ => {}
            }
            break;
        }
        if let Some(object) = &input.remote {
            crate::ingest::remote::fetch_one(object, path)?;
        }
        checksum(path, &input.name, prefix)
    }
}

/// What [`checksum`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    pub size: u64,
    pub blake3: String,
    /// BLAKE3 of the first `prefix` bytes, when the file has that many.
    pub prefix_blake3: Option<String>,
}

/// True when the file was modified less than `window` ago: its writer may still be busy.
pub fn modified_within(path: &Path, window: std::time::Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_format() {
        assert_eq!(
            kind_from_name("a.csv"),
            Some((Encoding::Csv, Compression::None))
        );
        assert_eq!(
            kind_from_name("a.CSV.GZ"),
            Some((Encoding::Csv, Compression::Gzip))
        );
        assert_eq!(
            kind_from_name("x/a.jsonl.zst"),
            Some((Encoding::Ndjson, Compression::Zstd))
        );
        assert_eq!(
            kind_from_name("a.ndjson"),
            Some((Encoding::Ndjson, Compression::None))
        );
        assert_eq!(kind_from_name("a.json"), None);
        assert_eq!(kind_from_name("a.csv.bz2"), None);
        assert_eq!(kind_from_name("README.md"), None);
    }

    #[test]
    fn a_checksum_taken_while_reading_covers_the_whole_file_however_much_was_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.csv");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("write");
        let whole = checksum(&path, "a.csv", None).expect("checksum");
        assert_eq!(whole.size, bytes.len() as u64);
        assert_eq!(whole.blake3, blake3::hash(&bytes).to_hex().to_string());
        let input = file_input(&path).expect("input");
        // Nothing read (a reader that stopped at once), part of it, all of it.
        for stop in [0, 1, 1 << 20, 2_500_000, bytes.len() as u64] {
            let running = RunningChecksum::default();
            let mut opened =
                open(&input, Some(Encoding::Csv), None, Some(running.clone())).expect("open");
            let mut read = Vec::new();
            (&mut opened.reader)
                .take(stop)
                .read_to_end(&mut read)
                .expect("read");
            assert_eq!(read, bytes[..stop as usize]);
            drop(opened);
            assert_eq!(
                running.finish(&path, "a.csv").expect("finish"),
                whole,
                "{stop}"
            );
        }
        // Bytes appended after the reading stopped are covered too.
        let running = RunningChecksum::default();
        let mut opened = open(&input, None, None, Some(running.clone())).expect("open");
        opened.reader.fill_buf().expect("read");
        let mut grown = bytes.clone();
        grown.extend_from_slice(b"more lines\n");
        std::fs::write(&path, &grown).expect("write");
        assert_eq!(
            running.finish(&path, "a.csv").expect("finish"),
            checksum(&path, "a.csv", None).expect("checksum")
        );
    }
}
