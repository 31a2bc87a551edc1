//! Warehouse files written around the kernel's page cache (`O_DIRECT` on Linux), and the
//! ids de-duplication spills (`ingest::accept::dedupe`), which are seldom read again.
//!
//! Why: ingest writes ~50 bytes of Parquet per record (910 MB for 19 M records), and copying
//! them into the page cache was the largest single item of its CPU profile: the kernel has to
//! find, zero and fill a fresh page for every 4 KiB, and on a VM that hands freed memory back
//! to its host each of those pages is also faulted in by the host (BENCHMARKS.md, stop 43).
//! Written around the cache, a file's bytes go from one aligned buffer straight to the disk:
//! no pages to fill, no dirty pages for `fsync` to write back, and the input's pages are not
//! evicted for output nobody is about to read.
//!
//! `O_DIRECT` wants the buffer's address, each write's length and its file offset aligned to
//! the device's block: the buffer is a window of a `Vec` that starts on a 4 KiB boundary, and
//! every write but the last is a whole window. The last, unaligned bytes are written through a
//! second, ordinary descriptor of the same file, which [`DirectFile::finish`] returns for the
//! caller to sync. A direct write returns once the disk has the bytes, so a file's windows after
//! the first are written by a thread of its own while the next fills. Where the file system
//! refuses `O_DIRECT` (tmpfs, some network file systems), at open or at a write, the file is
//! written the ordinary way from there on.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Alignment of the buffer, of each write's length and of its offset: 4 KiB covers devices of
/// 512-byte and of 4 KiB logical blocks.
const ALIGN: usize = 4096;

/// Bytes per write: large enough that the disk, not the system call, sets the pace (1 MiB
/// writes of 900 MB took 0.64-0.77 s here, 64 KiB ones 1.26 s).
const WINDOW: usize = 4 << 20;

/// A new file written in aligned windows around the page cache; see the module comment.
/// Bytes reach the file as windows fill and at [`DirectFile::finish`], which must be called:
/// [`Write::flush`] keeps a partial window buffered (an unaligned write would fail).
///
/// A direct write returns only once the disk has the bytes, so from the second full window on
/// the windows are written by a thread of the file's own while the next one fills: the caller
/// (ingest's write stage, the one the others wait on) does not wait for the disk.
pub(crate) struct DirectFile {
    window: Window,
    writes: Writes,
}

/// A buffer whose bytes `bytes[start..]` begin on an [`ALIGN`] boundary. `bytes` never grows
/// past its capacity, so it never moves and stays aligned.
struct Window {
    bytes: Vec<u8>,
    start: usize,
}

impl Window {
    /// `None` where the allocator gives no buffer that can be aligned (never a real one).
    fn new() -> Option<Window> {
        let mut bytes: Vec<u8> = Vec::with_capacity(WINDOW + ALIGN);
        let start = bytes.as_ptr().align_offset(ALIGN);
        if start >= ALIGN {
            return None;
        }
        bytes.resize(start, 0);
        Some(Window { bytes, start })
    }

    fn pending(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn is_full(&self) -> bool {
        self.bytes.len() == self.start + WINDOW
    }

    /// Appends what fits of `data`; returns how much that was.
    fn fill(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.start + WINDOW - self.bytes.len());
        self.bytes.extend_from_slice(&data[..n]);
        n
    }

    fn clear(&mut self) {
        self.bytes.truncate(self.start);
    }
}

/// Where full windows go: written here until the second one, then by the file's thread.
enum Writes {
    Here(Disk),
    Thread {
        /// Full windows to write (one may wait while the thread writes another).
        full: SyncSender<Window>,
        /// Windows written, to fill again.
        empty: Receiver<Window>,
        thread: JoinHandle<io::Result<Disk>>,
    },
    /// A write failed; its error was returned.
    Failed,
}

/// The file and how it is being written.
struct Disk {
    file: File,
    path: PathBuf,
    /// Whether `file` was opened with `O_DIRECT` (and still is written that way).
    direct: bool,
    /// Bytes written to the file so far: a multiple of [`ALIGN`].
    written: u64,
}

impl Disk {
    /// Writes `data` (aligned, a whole number of blocks, unless the file is written the
    /// ordinary way) at the end of the file; if the file system refuses it as a direct write,
    /// reopens the file the ordinary way and writes it there.
    fn write_at_end(&mut self, data: &[u8]) -> io::Result<()> {
        match self.file.write_all(data) {
            Ok(()) => {}
            Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => {
                let mut file = self.reopen()?;
                file.write_all(data)?;
                self.file = file;
                self.direct = false;
            }
            Err(e) => return Err(e),
        }
        self.written += data.len() as u64;
        Ok(())
    }

    /// A second, ordinary descriptor of the file, at the end of what was written.
    fn reopen(&self) -> io::Result<File> {
        let mut file = OpenOptions::new().write(true).open(&self.path)?;
        file.seek(SeekFrom::Start(self.written))?;
        Ok(file)
    }

    /// Writes the last bytes of the file, `pending`: its whole blocks directly, the rest
    /// through an ordinary descriptor of the same file, which is returned with the file's size.
    fn finish(mut self, pending: &[u8]) -> io::Result<(File, u64)> {
        let whole = if self.direct {
            pending.len() / ALIGN * ALIGN
        } else {
            pending.len()
        };
        if whole > 0 {
            self.write_at_end(&pending[..whole])?;
        }
        let tail = &pending[whole..];
        let mut file = if self.direct {
            self.reopen()?
        } else {
            self.file
        };
        file.write_all(tail)?;
        Ok((file, self.written + tail.len() as u64))
    }
}

impl DirectFile {
    /// Creates (or truncates) the file at `path`, to be written around the page cache if
    /// `direct` (where the file system allows), else through it.
    pub fn create(path: &Path, direct: bool) -> io::Result<Self> {
        let window = Window::new();
        let direct = if direct && window.is_some() {
            open_direct(path)
        } else {
            None
        };
        let (file, direct) = match direct {
            Some(file) => (file, true),
            None => (File::create(path)?, false),
        };
        Ok(DirectFile {
            // Unaligned, the file is written the ordinary way (above), from any buffer.
            window: window.unwrap_or(Window {
                bytes: Vec::with_capacity(WINDOW),
                start: 0,
            }),
            writes: Writes::Here(Disk {
                file,
                path: path.to_path_buf(),
                direct,
                written: 0,
            }),
        })
    }

    /// Writes the bytes still buffered and returns the file, not yet synced, with its size.
    pub fn finish(self) -> io::Result<(File, u64)> {
        let disk = match self.writes {
            Writes::Here(disk) => disk,
            Writes::Thread { full, thread, .. } => {
                drop(full);
                join(thread)?
            }
            Writes::Failed => return Err(io::Error::other("an earlier write failed")),
        };
        disk.finish(self.window.pending())
    }

    /// Hands the full window on to be written and takes an empty one.
    fn write_window(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.writes, Writes::Failed) {
            Writes::Here(mut disk) => {
                // The first window is written here (a small file never starts a thread); the
                // next ones by the thread, while the one after fills.
                disk.write_at_end(self.window.pending())?;
                self.window.clear();
                // Through the page cache a write returns once copied: no disk to wait for.
                if !disk.direct {
                    self.writes = Writes::Here(disk);
                    return Ok(());
                }
                let Some(spare) = Window::new() else {
                    self.writes = Writes::Here(disk);
                    return Ok(());
                };
                let (full, to_write) = sync_channel::<Window>(1);
                let (written, empty) = sync_channel::<Window>(2);
                // Two windows in all: one filling, one being written.
                let _ = written.send(spare);
                let thread = std::thread::Builder::new()
                    .name("double11-disk".into())
                    .spawn(move || {
                        for mut window in to_write {
                            disk.write_at_end(window.pending())?;
                            window.clear();
                            let _ = written.send(window);
                        }
                        Ok(disk)
                    })?;
                self.writes = Writes::Thread {
                    full,
                    empty,
                    thread,
                };
                Ok(())
            }
            Writes::Thread {
                full,
                empty,
                thread,
            } => {
                // Waits only while the other window is still being written.
                let Ok(next) = empty.recv() else {
                    return Err(stopped(full, thread));
                };
                let window = std::mem::replace(&mut self.window, next);
                if full.send(window).is_err() {
                    return Err(stopped(full, thread));
                }
                self.writes = Writes::Thread {
                    full,
                    empty,
                    thread,
                };
                Ok(())
            }
            Writes::Failed => Err(io::Error::other("an earlier write failed")),
        }
    }
}

/// Why the file's writing thread stopped before it was told to.
fn stopped(full: SyncSender<Window>, thread: JoinHandle<io::Result<Disk>>) -> io::Error {
    drop(full);
    match join(thread) {
        Err(e) => e,
        Ok(_) => io::Error::other("the file's writing thread stopped"),
    }
}

/// The disk of a file's writing thread, once it has written every window sent.
fn join(thread: JoinHandle<io::Result<Disk>>) -> io::Result<Disk> {
    thread
        .join()
        .map_err(|_| io::Error::other("the file's writing thread panicked"))?
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.window.fill(data);
        if self.window.is_full() {
            self.write_window()?;
        }
        Ok(n)
    }

    /// Keeps a partial window buffered: see [`DirectFile`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const EINVAL: i32 = 22;

/// The file at `path` created for direct writes, or `None` where that is not to be had.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn open_direct(_path: &Path) -> Option<File> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of every size around the window and block edges read back byte for byte, written
    /// in pieces of awkward sizes, on the test's file system (direct where it allows), whether
    /// a window is written by the caller, by the file's thread or at the end.
    #[test]
    fn files_read_back_as_written() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sizes = [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            WINDOW - 1,
            WINDOW,
            WINDOW + 1,
            2 * WINDOW + 3 * ALIGN + 17,
            // The first window written here, the next four by the file's thread, two in turn.
            5 * WINDOW + 123,
        ];
        for (i, size) in sizes.into_iter().enumerate() {
            let bytes: Vec<u8> = (0..size).map(|b| (b * 31 + b / 7) as u8).collect();
            let path = dir.path().join(format!("f{i}"));
            let mut file = DirectFile::create(&path, true).expect("create");
            for piece in bytes.chunks(100_003) {
                file.write_all(piece).expect("write");
            }
            file.flush().expect("flush");
            let (file, len) = file.finish().expect("finish");
            file.sync_all().expect("sync");
            assert_eq!(len, size as u64, "size {size}");
            assert_eq!(
                std::fs::read(&path).expect("read back"),
                bytes,
                "size {size}"
            );
        }
    }

    /// A direct write the file system refuses (here one of 100 bytes, not a whole block) is
    /// written the ordinary way, at the right offset, and so is the rest of the file.
    #[test]
    fn a_refused_direct_write_goes_the_ordinary_way() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("f");
        let Some(file) = open_direct(&path) else {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "{} refuses O_DIRECT: this test needs a file system that takes it",
                dir.path().display()
            );
            return;
        };
        let mut disk = Disk {
            file,
            path: path.clone(),
            direct: true,
            written: 0,
        };
        let mut aligned = Window::new().expect("an aligned window");
        aligned.fill(&[1u8; ALIGN]);
        disk.write_at_end(aligned.pending()).expect("a whole block");
        assert!(disk.direct, "a whole aligned block is written directly");
        disk.write_at_end(&[2u8; 100]).expect("100 bytes");
        assert!(!disk.direct, "the refused write reopened the file");
        let (_, len) = disk.finish(&[3u8; 5]).expect("finish");
        let mut want = vec![1u8; ALIGN];
        want.extend([2u8; 100]);
        want.extend([3u8; 5]);
        assert_eq!(len, want.len() as u64);
        assert_eq!(std::fs::read(&path).expect("read back"), want);
    }

    /// A file created over an older, longer one holds only the new bytes.
    #[test]
    fn an_older_file_is_replaced() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 3 * WINDOW]).expect("an older file");
        let mut file = DirectFile::create(&path, true).expect("create");
        file.write_all(b"new").expect("write");
        let (_, len) = file.finish().expect("finish");
        assert_eq!(len, 3);
        assert_eq!(std::fs::read(&path).expect("read back"), b"new");
    }
}
