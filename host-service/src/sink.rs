//! Where events end up: the CSV file (appended, header only when new or empty, a torn
//! last line repaired on start) and the rejects file (bad payloads kept verbatim).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::event::{RejectKind, Row};

/// The CSV header, as `server.py` writes it.
pub const HEADER: [&str; 4] = ["timestamp", "datetime", "sensor_id", "value"];

/// Errors of the sinks.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The file can't be opened for appending.
    #[error("cannot open {path} for writing: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Checking or repairing the end of an existing file failed.
    #[error("cannot check the end of {path}: {source}")]
    Repair {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Writing failed (disk full, file removed under us, ...).
    #[error("cannot write to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Opens `path` for appending (and reading, to repair it), creating it if needed.
fn open_append(path: &Path) -> Result<File, SinkError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|source| SinkError::Open {
            path: path.to_owned(),
            source,
        })
}

/// Cuts a partial last line (one not ending in `\n`) off `file` and returns it.
fn cut_torn_tail(file: &mut File) -> io::Result<Option<Vec<u8>>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    // Scan backwards for the last complete row's "\r\n" (a bare "\n" counts too, for
    // files written by other tools).
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut tail: Vec<u8> = Vec::new();
    let cut_at = loop {
        let start = end.saturating_sub(CHUNK);
        let mut buf = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        if let Some(pos) = buf.iter().rposition(|b| *b == b'\n') {
            tail.splice(0..0, buf[pos + 1..].iter().copied());
            break start + pos as u64 + 1;
        }
        tail.splice(0..0, buf);
        if start == 0 {
            break 0;
        }
        end = start;
    };
    file.set_len(cut_at)?;
    file.seek(SeekFrom::End(0))?;
    Ok(Some(tail))
}

/// The CSV output.
pub struct CsvSink {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl std::fmt::Debug for CsvSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSink").field("path", &self.path).finish()
    }
}

impl CsvSink {
    /// Opens (or creates) the CSV file. Returns the sink and the torn fragment that was
    /// cut off the end, if any; writes the header if the file is new or empty.
    pub fn open(path: &Path) -> Result<(CsvSink, Option<Vec<u8>>), SinkError> {
        let mut file = open_append(path)?;
        let torn = cut_torn_tail(&mut file).map_err(|source| SinkError::Repair {
            path: path.to_owned(),
            source,
        })?;
        let empty = file
            .metadata()
            .map_err(|source| SinkError::Repair {
                path: path.to_owned(),
                source,
            })?
            .len()
            == 0;
        // The csv module's dialect: minimal quoting, "\r\n" line ends.
        let writer = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .buffer_capacity(64 * 1024)
            .from_writer(file);
        let mut sink = CsvSink {
            path: path.to_owned(),
            writer,
        };
        if empty {
            sink.write_record(HEADER)?;
            sink.flush()?;
        }
        Ok((sink, torn))
    }

    fn write_error(&self, e: impl Into<io::Error>) -> SinkError {
        SinkError::Write {
            path: self.path.clone(),
            source: e.into(),
        }
    }

    fn write_record<I, T>(&mut self, record: I) -> Result<(), SinkError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.writer.write_record(record).map_err(|e| {
            let err = match e.into_kind() {
                csv::ErrorKind::Io(io) => io,
                other => io::Error::other(format!("{other:?}")),
            };
            SinkError::Write {
                path: self.path.clone(),
                source: err,
            }
        })
    }

    /// Buffers one row; call [`CsvSink::flush`] before acknowledging it.
    pub fn write_row(&mut self, row: &Row<'_>) -> Result<(), SinkError> {
        self.write_record(row.csv_fields())
    }

    /// Hands everything buffered to the OS (a SIGKILL after this loses nothing).
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush().map_err(|e| self.write_error(e))
    }

    /// The CSV file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The rejects file. Each record is a header line
/// `# <UTC time> <kind> bytes=<n> size=<m> topic=<JSON string> <detail>` followed by
/// exactly `n` bytes of the payload, verbatim, and a `\n`. `m` is the payload's full
/// size: for a `too-large` payload only its first bytes are kept (`n < m`). The topic is a
/// JSON string and the detail has its control characters escaped, so any topic (spaces,
/// newlines, `bytes=`) and any payload read back unambiguously ([`read_rejects`]).
pub struct RejectSink {
    path: PathBuf,
    writer: io::BufWriter<File>,
}

impl std::fmt::Debug for RejectSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RejectSink")
            .field("path", &self.path)
            .finish()
    }
}

impl RejectSink {
    /// Opens (or creates) the rejects file for appending.
    pub fn open(path: &Path) -> Result<RejectSink, SinkError> {
        let mut file = open_append(path)?;
        // A torn record here would confuse readers: finish it with a newline.
        let len = file
            .metadata()
            .map_err(|source| SinkError::Repair {
                path: path.to_owned(),
                source,
            })?
            .len();
        let mut writer = io::BufWriter::with_capacity(16 * 1024, {
            if len > 0 {
                let mut last = [0u8; 1];
                file.seek(SeekFrom::Start(len - 1))
                    .and_then(|_| file.read_exact(&mut last))
                    .map_err(|source| SinkError::Repair {
                        path: path.to_owned(),
                        source,
                    })?;
                if last[0] != b'\n' {
                    file.write_all(b"\n").map_err(|source| SinkError::Repair {
                        path: path.to_owned(),
                        source,
                    })?;
                }
            }
            file
        });
        writer.flush().map_err(|source| SinkError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(RejectSink {
            path: path.to_owned(),
            writer,
        })
    }

    /// Buffers one rejected payload: `kept` is what is stored (all of it, or the first
    /// bytes of a too-large one), `size` the payload's full length.
    pub fn write(
        &mut self,
        kind: RejectKind,
        topic: &str,
        detail: &str,
        kept: &[u8],
        size: u64,
    ) -> Result<(), SinkError> {
        let now = crate::pyrepr::utc_isoformat(crate::event::python_time_now());
        let header = format!(
            "# {now} {kind} bytes={} size={size} topic={} {}\n",
            kept.len(),
            serde_json::to_string(topic).unwrap_or_default(),
            crate::logsafe::escape_controls(detail),
        );
        let res = self
            .writer
            .write_all(header.as_bytes())
            .and_then(|_| self.writer.write_all(kept))
            .and_then(|_| self.writer.write_all(b"\n"));
        res.map_err(|source| SinkError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Hands everything buffered to the OS.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush().map_err(|source| SinkError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// The rejects file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One record read back from a rejects file (used by tests and tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectRecord {
    /// The reject kind's name.
    pub kind: String,
    /// The topic it came on.
    pub topic: String,
    /// The payload as kept (all of it, or the first bytes of a too-large one).
    pub payload: Vec<u8>,
    /// The payload's full size.
    pub size: u64,
    /// The detail text (control characters escaped).
    pub detail: String,
}

/// Parses a rejects file written by [`RejectSink`] (also the older
/// `# time kind topic=T bytes=N detail` records, whose topic had no spaces).
pub fn read_rejects(data: &[u8]) -> Vec<RejectRecord> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        let Some(rec) = parse_reject_header(&header) else {
            continue;
        };
        let (n, mut rec) = rec;
        if rest.len() < n {
            break;
        }
        rec.payload = rest[..n].to_vec();
        out.push(rec);
        rest = &rest[n..];
        if rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
    }
    out
}

fn parse_reject_header(header: &str) -> Option<(usize, RejectRecord)> {
    let rest = header.strip_prefix("# ")?;
    let (_time, rest) = rest.split_once(' ')?;
    let (kind, rest) = rest.split_once(' ')?;
    let mut rec = RejectRecord {
        kind: kind.to_owned(),
        topic: String::new(),
        payload: Vec::new(),
        size: 0,
        detail: String::new(),
    };
    if let Some(rest) = rest.strip_prefix("bytes=") {
        let (n, rest) = rest.split_once(' ')?;
        let n: usize = n.parse().ok()?;
        let (size, rest) = rest.strip_prefix("size=")?.split_once(' ')?;
        rec.size = size.parse().ok()?;
        let json = rest.strip_prefix("topic=")?;
        let mut topics = serde_json::Deserializer::from_str(json).into_iter::<String>();
        rec.topic = topics.next()?.ok()?;
        rec.detail = json[topics.byte_offset()..].trim_start().to_owned();
        Some((n, rec))
    } else {
        // The first format: `topic=T bytes=N detail`.
        let (topic, rest) = rest.split_once(' ')?;
        rec.topic = topic.strip_prefix("topic=").unwrap_or(topic).to_owned();
        let (n, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        let n: usize = n.strip_prefix("bytes=")?.parse().ok()?;
        rec.size = n as u64;
        rec.detail = detail.to_owned();
        Some((n, rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hs-sink-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn header_once_and_torn_tail_cut() {
        let path = temp_path("a.csv");
        let _ = std::fs::remove_file(&path);
        drop(CsvSink::open(&path).unwrap());
        drop(CsvSink::open(&path).unwrap());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"timestamp,datetime,sensor_id,value\r\n"
        );
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"1.5,1970-01-01T00:00:01.500000,lux-1,3\r\n1.6,19")
            .unwrap();
        let (_sink, torn) = CsvSink::open(&path).unwrap();
        assert_eq!(torn.as_deref(), Some(&b"1.6,19"[..]));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"timestamp,datetime,sensor_id,value\r\n1.5,1970-01-01T00:00:01.500000,lux-1,3\r\n"
        );
    }

    #[test]
    fn rejects_round_trip() {
        let path = temp_path("r.rejects");
        let _ = std::fs::remove_file(&path);
        let mut sink = RejectSink::open(&path).unwrap();
        sink.write(RejectKind::NotUtf8, "t", "bad\nbyte", b"\xff\n\x00", 3)
            .unwrap();
        sink.write(RejectKind::NotJson, "t", "x", b"hi, there", 9)
            .unwrap();
        let nasty = "a b\n# 2026 not-json bytes=0 size=0 topic=\"x\" \"\\\u{7f}";
        sink.write(RejectKind::TooLarge, nasty, "d", b"first", 100_000)
            .unwrap();
        sink.flush().unwrap();
        let data = std::fs::read(&path).unwrap();
        let recs = read_rejects(&data);
        assert_eq!(recs.len(), 3, "{}", String::from_utf8_lossy(&data));
        assert_eq!(recs[0].payload, b"\xff\n\x00");
        assert_eq!(recs[0].detail, "bad\\nbyte");
        assert_eq!(recs[1].kind, "not-json");
        assert_eq!(recs[2].topic, nasty);
        assert_eq!(
            (recs[2].payload.as_slice(), recs[2].size),
            (&b"first"[..], 100_000)
        );
        // The first format still reads.
        let old = b"# 2026-11-25T08:31:50.368922 not-json topic=sensor-data bytes=9 expected value\nhi, there\n";
        let recs = read_rejects(old);
        assert_eq!(
            (recs[0].topic.as_str(), recs[0].payload.as_slice()),
            ("sensor-data", &b"hi, there"[..])
        );
    }
}
