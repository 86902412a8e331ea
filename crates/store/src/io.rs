//! The store's only door to the file system: a narrow trait over the few operations it uses
//! (open, positioned read and write, length, sync, and directory listing, rename, removal
//! and sync). [`OsFs`] is the real one; [`sim::SimFs`] keeps synced and unsynced data apart
//! so a test can cut the power. Passed in through [`super::StoreConfig`], never global.
//!
//! Calls are per batch (one positioned write per buffer the flusher writes out, one read per
//! message read back), so dynamic dispatch costs nothing measurable.

pub mod sim;

use std::fmt::Debug;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// How [`StoreFs::open`] opens a file. Every mode but `Read` allows writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, read only.
    Read,
    /// An existing file, for writing (e.g. to cut a torn tail).
    Write,
    /// A new file; fails if the name exists.
    CreateNew,
    /// The existing file, or a new empty one.
    Create,
    /// A new empty file, replacing any content under the name.
    Truncate,
}

/// The file-system operations the store uses.
pub trait StoreFs: Send + Sync + Debug {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>>;
    /// A whole file's content.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Names of the files in a directory (no paths).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Replace `to` by `from` atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Make the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file; positioned I/O only, so handles are shared between threads freely.
pub trait StoreFile: Send + Sync + Debug {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn size(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Make the data written so far durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;

    /// Fill `buf` from `offset` only if the page cache holds all of it, never waiting for
    /// the disk (so a runtime worker may call it): false when any part is not cached, on
    /// any error, or where the file system cannot tell (the default). The caller then
    /// reads on the blocking pool, where errors are reported.
    fn read_cached_at(&self, buf: &mut [u8], offset: u64) -> bool {
        let _ = (buf, offset);
        false
    }

    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Write all of `buf` at `offset`; returns how much was written and the error that stopped
/// it, if any (the file then holds an exact prefix of `buf` there).
pub fn write_all_at(file: &dyn StoreFile, buf: &[u8], offset: u64) -> (usize, Option<io::Error>) {
    let mut done = 0;
    while done < buf.len() {
        match file.write_at(&buf[done..], offset + done as u64) {
            Ok(0) => return (done, Some(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl StoreFs for OsFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let mut o = File::options();
        o.read(true);
        match mode {
            OpenMode::Read => &mut o,
            OpenMode::Write => o.write(true),
            OpenMode::CreateNew => o.write(true).create_new(true),
            OpenMode::Create => o.write(true).create(true).truncate(false),
            OpenMode::Truncate => o.write(true).create(true).truncate(true),
        };
        Ok(Arc::new(OsFile(o.open(path)?)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

#[derive(Debug)]
struct OsFile(File);

impl StoreFile for OsFile {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.0.write_at(buf, offset)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        self.0.metadata().map(|m| m.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    #[cfg(target_os = "linux")]
    fn read_cached_at(&self, mut buf: &mut [u8], mut offset: u64) -> bool {
        use std::os::fd::AsRawFd;
        while !buf.is_empty() {
            let Ok(at) = libc::off_t::try_from(offset) else {
                return false;
            };
            let iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: one iovec describing `buf`, which stays borrowed for the call; the
            // kernel writes at most `iov_len` bytes into it. RWF_NOWAIT: EAGAIN instead of
            // waiting for the disk (Linux 4.14+; older kernels say EOPNOTSUPP: not cached
            // as far as we know).
            let n = unsafe { libc::preadv2(self.0.as_raw_fd(), &iov, 1, at, libc::RWF_NOWAIT) };
            match n {
                n if n > 0 => {
                    let n = n as usize;
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                0 => return false,
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => return false,
            }
        }
        true
    }
}
