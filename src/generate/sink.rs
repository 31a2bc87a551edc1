//! Where generated lines go: a run of files (or standard output), plain, gzip or zstd.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

use super::GenCompression;

/// The write buffer of a log file.
const CHUNK: usize = 1 << 20;

enum Sink {
    Plain(Box<dyn Write>),
    Gzip(flate2::write::GzEncoder<Box<dyn Write>>),
    Zstd(zstd::stream::write::Encoder<'static, Box<dyn Write>>),
}

impl Sink {
    fn new(inner: Box<dyn Write>, compression: GenCompression) -> io::Result<Self> {
        Ok(match compression {
            GenCompression::None => Sink::Plain(inner),
            // Level 1: generation speed matters more than a few percent of size.
            GenCompression::Gz => Sink::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::fast(),
            )),
            GenCompression::Zst => Sink::Zstd(zstd::stream::write::Encoder::new(inner, 3)?),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
            Sink::Zstd(w) => w.write_all(bytes),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
            Sink::Zstd(w) => w.finish()?.flush(),
        }
    }
}

/// The open output: blocks of rendered lines are written to it in order.
pub(crate) struct Output {
    sink: Option<Sink>,
    name: String,
    compression: GenCompression,
    /// Written at the start of every file (the CSV header), or once on standard output.
    header: Vec<u8>,
}

impl Output {
    pub(crate) fn new(compression: GenCompression, header: Vec<u8>) -> Self {
        Output {
            sink: None,
            name: String::new(),
            compression,
            header,
        }
    }

    /// Starts writing to standard output.
    pub(crate) fn open_stdout(&mut self) -> Result<()> {
        self.close()?;
        let name = "<stdout>".to_string();
        let sink = Sink::new(Box::new(io::stdout().lock()), self.compression)
            .map_err(|e| Error::io(&name, e))?;
        self.start(sink, name)
    }

    /// Closes the current file, if any, and starts `path`.
    pub(crate) fn open_file(&mut self, path: &Path) -> Result<()> {
        self.close()?;
        let name = path.display().to_string();
        let file = File::create(path).map_err(|e| Error::io(&name, e))?;
        let inner: Box<dyn Write> = Box::new(BufWriter::with_capacity(CHUNK, file));
        let sink = Sink::new(inner, self.compression).map_err(|e| Error::io(&name, e))?;
        self.start(sink, name)
    }

    /// Makes `sink` the output and writes the header to it.
    fn start(&mut self, sink: Sink, name: String) -> Result<()> {
        self.sink = Some(sink);
        self.name = name;
        let header = std::mem::take(&mut self.header);
        let written = self.write(&header);
        self.header = header;
        written
    }

    /// Writes a block of rendered lines.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let sink = self.sink.as_mut().ok_or_else(|| {
            Error::Other(anyhow::anyhow!("generator wrote before opening an output"))
        })?;
        sink.write_all(bytes).map_err(|e| Error::io(&self.name, e))
    }

    /// Finishes the current output's compressed stream, if any.
    pub(crate) fn close(&mut self) -> Result<()> {
        if let Some(sink) = self.sink.take() {
            sink.finish().map_err(|e| Error::io(&self.name, e))?;
        }
        Ok(())
    }
}
