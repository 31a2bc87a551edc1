//! Warehouse files written around the kernel's page cache (`O_DIRECT` on Linux).
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
//! caller to sync. Where the file system refuses `O_DIRECT` (tmpfs, some network file
//! systems), at open or at the first write, the file is written the ordinary way instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Alignment of the buffer, of each write's length and of its offset: 4 KiB covers devices of
/// 512-byte and of 4 KiB logical blocks.
const ALIGN: usize = 4096;

/// Bytes per write: large enough that the disk, not the system call, sets the pace (1 MiB
/// writes of 900 MB took 0.64-0.77 s here, 64 KiB ones 1.26 s).
const WINDOW: usize = 4 << 20;

/// A new file written in aligned windows around the page cache; see the module comment.
/// Bytes reach the file as windows fill and at [`DirectFile::finish`], which must be called:
/// [`Write::flush`] keeps a partial window buffered (an unaligned write would fail).
pub(crate) struct DirectFile {
    file: File,
    path: PathBuf,
    /// Whether `file` was opened with `O_DIRECT` (and still is written that way).
    direct: bool,
    /// `buf[start..]` holds the bytes not yet written. `buf` never grows past its capacity, so
    /// it never moves and `buf[start..]` stays aligned.
    buf: Vec<u8>,
    start: usize,
    /// Bytes written to the file so far: a multiple of [`WINDOW`].
    written: u64,
}

impl DirectFile {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let (file, direct) = match open_direct(path) {
            Some(file) => (file, true),
            None => (File::create(path)?, false),
        };
        let mut buf: Vec<u8> = Vec::with_capacity(WINDOW + ALIGN);
        let start = buf.as_ptr().align_offset(ALIGN);
        // A buffer that cannot be aligned (never on a real allocator) is written ordinarily.
        let (start, direct) = if start < ALIGN {
            (start, direct)
        } else {
            (0, false)
        };
        buf.resize(start, 0);
        Ok(DirectFile {
            file,
            path: path.to_path_buf(),
            direct,
            buf,
            start,
            written: 0,
        })
    }

    /// Writes the bytes still buffered and returns the file, not yet synced, with its size.
    pub fn finish(mut self) -> io::Result<(File, u64)> {
        let pending = self.buf.len() - self.start;
        let whole = pending / ALIGN * ALIGN;
        if whole > 0 {
            let range = self.start..self.start + whole;
            self.write_at_end(range)?;
        }
        let tail = self.start + whole..self.buf.len();
        let mut file = if self.direct {
            // The unaligned tail goes through an ordinary descriptor of the same file.
            let mut file = OpenOptions::new().write(true).open(&self.path)?;
            file.seek(SeekFrom::Start(self.written))?;
            file
        } else {
            self.file
        };
        file.write_all(&self.buf[tail.clone()])?;
        Ok((file, self.written + tail.len() as u64))
    }

    /// Writes `buf[range]` at the end of the file; if the file system refuses it as a direct
    /// write, reopens the file the ordinary way and writes it there.
    fn write_at_end(&mut self, range: std::ops::Range<usize>) -> io::Result<()> {
        match self.file.write_all(&self.buf[range.clone()]) {
            Ok(()) => {}
            Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => {
                let mut file = OpenOptions::new().write(true).open(&self.path)?;
                file.seek(SeekFrom::Start(self.written))?;
                file.write_all(&self.buf[range.clone()])?;
                self.file = file;
                self.direct = false;
            }
            Err(e) => return Err(e),
        }
        self.written += range.len() as u64;
        Ok(())
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let end = self.start + WINDOW;
        let n = data.len().min(end - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == end {
            self.write_at_end(self.start..end)?;
            self.buf.truncate(self.start);
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
    /// in pieces of awkward sizes, on the test's file system (direct where it allows).
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
        ];
        for (i, size) in sizes.into_iter().enumerate() {
            let bytes: Vec<u8> = (0..size).map(|b| (b * 31 + b / 7) as u8).collect();
            let path = dir.path().join(format!("f{i}"));
            let mut file = DirectFile::create(&path).expect("create");
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

    /// A file created over an older, longer one holds only the new bytes.
    #[test]
    fn an_older_file_is_replaced() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 3 * WINDOW]).expect("an older file");
        let mut file = DirectFile::create(&path).expect("create");
        file.write_all(b"new").expect("write");
        let (_, len) = file.finish().expect("finish");
        assert_eq!(len, 3);
        assert_eq!(std::fs::read(&path).expect("read back"), b"new");
    }
}
