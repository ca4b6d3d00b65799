//! Where events end up: the CSV file (appended, header only when new or empty, a torn
//! last line repaired on start, locked against a second instance, reopened when it is
//! deleted, replaced or rotated) and the rejects file (bad payloads kept verbatim).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::event::{RejectKind, Row};

/// The CSV header, as `server.py` writes it.
pub const HEADER: &str = "timestamp,datetime,sensor_id,value";

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
    /// Another process holds the CSV's lock.
    #[error("{path} is in use by another host-service (it holds the file's lock); give each instance its own CSV file")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The CSV starts with something other than our header.
    #[error("{path} starts with {found:?}, not the header \"timestamp,datetime,sensor_id,value\": it is not a host-service CSV; give another file name (nothing was written to it)")]
    OtherHeader {
        /// The file.
        path: PathBuf,
        /// Its first line.
        found: String,
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

/// True if `line` (without its line end) is a whole row as we write it: four fields,
/// a timestamp and the ISO datetime of that same timestamp.
fn is_complete_row(line: &[u8]) -> bool {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line);
    let Some(Ok(rec)) = rdr.records().next() else {
        return false;
    };
    rec.len() == 4
        && rec[0]
            .parse::<f64>()
            .is_ok_and(|ts| crate::pyrepr::utc_isoformat(ts) == rec[1])
}

/// How the end of an existing file was fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailFix {
    /// A partial row, cut off (it goes to the rejects file).
    Torn(Vec<u8>),
    /// A complete row without its line end (a file edited by hand or by another tool);
    /// the line end was added.
    NewlineAdded,
}

/// Repairs a last line that has no line end: a complete row (and a header) gets its
/// `\r\n`; anything else is a partial row, which is cut off and returned. A write cut
/// short by SIGKILL or a full disk stops at a page boundary, so a file whose length is a
/// multiple of 4096 is treated as torn even if its last line looks whole.
fn fix_tail(file: &mut File) -> io::Result<Option<TailFix>> {
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
    let whole = tail == HEADER.as_bytes() || (len % 4096 != 0 && is_complete_row(&tail));
    if whole {
        file.seek(SeekFrom::End(0))?;
        file.write_all(b"\r\n")?;
        return Ok(Some(TailFix::NewlineAdded));
    }
    file.set_len(cut_at)?;
    file.seek(SeekFrom::End(0))?;
    Ok(Some(TailFix::Torn(tail)))
}

/// The first line of `file` (up to 4 KiB), without its line end.
fn first_line(file: &mut File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    file.seek(SeekFrom::Start(0))?;
    let mut n = 0;
    while n < buf.len() {
        let k = file.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    buf.truncate(n);
    if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
        buf.truncate(pos);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(buf)
}

/// (device, inode) of an open file or a path.
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

/// The CSV output. Rows of a batch are formatted into memory and written with one
/// `write` at [`CsvSink::flush`]; before the batch is acknowledged the sink checks that
/// the path still names the file it wrote to, and if the file was deleted, replaced or
/// rotated it opens the path again and writes the batch there too.
pub struct CsvSink {
    path: PathBuf,
    file: File,
    rows: csv::Writer<Pending>,
    pending: Pending,
}

/// The formatted rows of the current batch (the csv writer's output).
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for CsvSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSink").field("path", &self.path).finish()
    }
}

impl CsvSink {
    /// Opens (or creates) the CSV file and takes its lock. Returns the sink and how its
    /// end was repaired, if it was; writes the header if the file is new or empty.
    pub fn open(path: &Path) -> Result<(CsvSink, Option<TailFix>), SinkError> {
        let (file, fix) = Self::open_file(path)?;
        let pending = Pending::default();
        // The csv module's dialect: minimal quoting, "\r\n" line ends.
        let rows = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .buffer_capacity(8 * 1024)
            .from_writer(pending.clone());
        Ok((
            CsvSink {
                path: path.to_owned(),
                file,
                rows,
                pending,
            },
            fix,
        ))
    }

    fn open_file(path: &Path) -> Result<(File, Option<TailFix>), SinkError> {
        let mut file = open_append(path)?;
        let repair = |source| SinkError::Repair {
            path: path.to_owned(),
            source,
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SinkError::Locked {
                    path: path.to_owned(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(SinkError::Open {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        let len = file.metadata().map_err(repair)?.len();
        if len > 0 {
            let first = first_line(&mut file).map_err(repair)?;
            // A file holding only part of the header (killed while creating it) is ours.
            if first != HEADER.as_bytes()
                && !(first.len() as u64 == len && HEADER.as_bytes().starts_with(&first))
            {
                return Err(SinkError::OtherHeader {
                    path: path.to_owned(),
                    found: String::from_utf8_lossy(&first).chars().take(80).collect(),
                });
            }
        }
        let fix = fix_tail(&mut file).map_err(repair)?;
        let empty = file.metadata().map_err(repair)?.len() == 0;
        if empty {
            file.write_all(format!("{HEADER}\r\n").as_bytes())
                .map_err(|source| SinkError::Write {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Ok((file, fix))
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
        self.rows.write_record(record).map_err(|e| {
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

    /// Hands the buffered rows to the OS (a SIGKILL after this loses nothing), then
    /// makes sure they went to the file the path names: if it was deleted, replaced or
    /// rotated, the path is opened again (header, lock) and the rows written there.
    /// Returns true when that happened.
    pub fn flush(&mut self) -> Result<bool, SinkError> {
        self.rows.flush().map_err(|e| self.write_error(e))?;
        let pending = self.pending.0.clone();
        let mut bytes = pending.lock().unwrap_or_else(|p| p.into_inner());
        let res = self.write_checked(&bytes);
        bytes.clear();
        if bytes.capacity() > 1024 * 1024 {
            bytes.shrink_to(64 * 1024);
        }
        res
    }

    fn write_checked(&mut self, bytes: &[u8]) -> Result<bool, SinkError> {
        if !bytes.is_empty() {
            self.file
                .write_all(bytes)
                .map_err(|e| self.write_error(e))?;
        }
        let ours = self.file.metadata().map_err(|e| self.write_error(e))?;
        let same = match std::fs::metadata(&self.path) {
            Ok(m) => identity(&m) == identity(&ours),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(self.write_error(e)),
        };
        if same {
            return Ok(false);
        }
        tracing::warn!(
            csv = %self.path.display(),
            "the CSV was deleted, replaced or moved away; writing to a new file at its path \
             (rows already written stay in the old file)"
        );
        self.reopen()?;
        if !bytes.is_empty() {
            self.file
                .write_all(bytes)
                .map_err(|e| self.write_error(e))?;
        }
        Ok(true)
    }

    /// Opens the path again (after logrotate or SIGHUP). A torn tail of the new file is
    /// returned for the rejects file.
    pub fn reopen(&mut self) -> Result<Option<TailFix>, SinkError> {
        if let (Ok(ours), Ok(theirs)) = (self.file.metadata(), std::fs::metadata(&self.path)) {
            if identity(&ours) == identity(&theirs) {
                // Still the same file (and a second lock on it would fail).
                return Ok(None);
            }
        }
        let (file, fix) = Self::open_file(&self.path)?;
        self.file = file;
        Ok(fix)
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

    /// Flushes and opens the path again (logrotate, SIGHUP).
    pub fn reopen(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        *self = RejectSink::open(&self.path)?;
        Ok(())
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
        let (sink, torn) = CsvSink::open(&path).unwrap();
        assert_eq!(torn, Some(TailFix::Torn(b"1.6,19".to_vec())));
        let want =
            b"timestamp,datetime,sensor_id,value\r\n1.5,1970-01-01T00:00:01.500000,lux-1,3\r\n";
        assert_eq!(std::fs::read(&path).unwrap(), want);
        // The lock: a second sink on the same file is refused while the first lives.
        let err = CsvSink::open(&path).unwrap_err();
        assert!(matches!(err, SinkError::Locked { .. }), "{err}");
        drop(sink);
        // A whole row without its line end gets one.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"1.6,1970-01-01T00:00:01.600000,lux-1,4")
            .unwrap();
        let (sink, fix) = CsvSink::open(&path).unwrap();
        assert_eq!(fix, Some(TailFix::NewlineAdded));
        let mut want = want.to_vec();
        want.extend_from_slice(b"1.6,1970-01-01T00:00:01.600000,lux-1,4\r\n");
        assert_eq!(std::fs::read(&path).unwrap(), want);
        drop(sink);
        // Another header is refused and the file left alone.
        let other = temp_path("other.csv");
        std::fs::write(&other, "time,temp\n1,2\n").unwrap();
        let err = CsvSink::open(&other).unwrap_err().to_string();
        assert!(err.contains("starts with \"time,temp\""), "{err}");
        assert_eq!(std::fs::read(&other).unwrap(), b"time,temp\n1,2\n");
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
