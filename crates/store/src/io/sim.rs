//! A simulated disk for power-loss tests. It keeps, per file, what was made durable by a sync
//! apart from the writes since, and per directory the entries made durable by a directory
//! sync apart from the creations, renames and removals since. [`SimFs::power_cut`] returns the
//! disk as the machine would find it after losing power: each file keeps its synced content
//! plus a random prefix of its later writes (the last one possibly torn at a random byte), each
//! directory a random prefix of its unsynced changes. The old disk is left powered off: every
//! change to it is accepted and goes nowhere, so the store that was running on it can be
//! closed without reaching the surviving state.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{OpenMode, StoreFile, StoreFs};

/// A disk held in memory, shared by every handle cloned from it.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    disk: Arc<Mutex<Disk>>,
}

#[derive(Debug, Default)]
struct Disk {
    /// Power is off: changes are accepted and dropped, reads fail.
    off: bool,
    /// Names as the running system sees them.
    names: BTreeMap<PathBuf, u64>,
    /// Names as they were at the last sync of their directory.
    durable_names: BTreeMap<PathBuf, u64>,
    /// Directory changes since that directory's last sync, in order.
    dir_changes: BTreeMap<PathBuf, Vec<DirChange>>,
    dirs: BTreeSet<PathBuf>,
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
}

#[derive(Debug, Clone)]
enum DirChange {
    Link(PathBuf, u64),
    Unlink(PathBuf),
    Rename(PathBuf, PathBuf, u64),
}

#[derive(Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    /// Changes since the last sync, in order.
    unsynced: Vec<FileChange>,
}

#[derive(Debug)]
enum FileChange {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

impl FileChange {
    fn apply(&self, data: &mut Vec<u8>) {
        match self {
            FileChange::Write(at, bytes) => write_into(data, *at, bytes),
            FileChange::SetLen(len) => data.resize(*len as usize, 0),
        }
    }
}

fn write_into(data: &mut Vec<u8>, at: u64, bytes: &[u8]) {
    let at = at as usize;
    if data.len() < at + bytes.len() {
        data.resize(at + bytes.len(), 0);
    }
    data[at..at + bytes.len()].copy_from_slice(bytes);
}

impl DirChange {
    fn apply(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            DirChange::Link(path, ino) => {
                names.insert(path.clone(), *ino);
            }
            DirChange::Unlink(path) => {
                names.remove(path);
            }
            DirChange::Rename(from, to, ino) => {
                names.remove(from);
                names.insert(to.clone(), *ino);
            }
        }
    }
}

/// xorshift64*: the cut is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display()))
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Disk {
    fn change_dir(&mut self, dir: PathBuf, change: DirChange) {
        self.dir_changes.entry(dir).or_default().push(change);
    }

    fn new_file(&mut self, path: &Path) -> u64 {
        self.next_inode += 1;
        let ino = self.next_inode;
        self.inodes.insert(ino, Inode::default());
        self.names.insert(path.to_path_buf(), ino);
        self.change_dir(parent(path), DirChange::Link(path.to_path_buf(), ino));
        ino
    }
}

impl SimFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cut the power: this disk stops (see the module doc) and the returned one holds what
    /// survived, all of it durable. The same seed gives the same cut.
    pub fn power_cut(&self, seed: u64) -> SimFs {
        let mut rng = Rng::new(seed);
        let mut disk = self.disk.lock();
        disk.off = true;
        let mut names = disk.durable_names.clone();
        for changes in disk.dir_changes.values() {
            let kept = rng.below(changes.len() + 1);
            for c in &changes[..kept] {
                c.apply(&mut names);
            }
        }
        let mut after = Disk {
            dirs: disk.dirs.clone(),
            next_inode: disk.next_inode,
            ..Disk::default()
        };
        for (path, ino) in names {
            after.inodes.entry(ino).or_insert_with(|| {
                let data = surviving(&disk.inodes[&ino], &mut rng);
                Inode {
                    durable: data.clone(),
                    current: data,
                    unsynced: Vec::new(),
                }
            });
            after.names.insert(path.clone(), ino);
            after.durable_names.insert(path, ino);
        }
        SimFs {
            disk: Arc::new(Mutex::new(after)),
        }
    }

    /// Bytes written but not yet synced, over every file (for tests to see a cut matters).
    pub fn unsynced_bytes(&self) -> usize {
        let disk = self.disk.lock();
        disk.inodes
            .values()
            .flat_map(|i| &i.unsynced)
            .map(|c| match c {
                FileChange::Write(_, b) => b.len(),
                FileChange::SetLen(_) => 0,
            })
            .sum()
    }
}

/// A file's content after a power cut: its synced content, then a random number of its later
/// changes in order, the next one torn at a random byte half of the time.
fn surviving(inode: &Inode, rng: &mut Rng) -> Vec<u8> {
    let mut data = inode.durable.clone();
    let kept = rng.below(inode.unsynced.len() + 1);
    for c in &inode.unsynced[..kept] {
        c.apply(&mut data);
    }
    if let Some(FileChange::Write(at, bytes)) = inode.unsynced.get(kept) {
        if rng.below(2) == 0 {
            let torn = rng.below(bytes.len() + 1);
            write_into(&mut data, *at, &bytes[..torn]);
        }
    }
    data
}

impl StoreFs for SimFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let mut disk = self.disk.lock();
        let ino = if disk.off {
            0
        } else {
            match (disk.names.get(path).copied(), mode) {
                (None, OpenMode::Read | OpenMode::Write) => return Err(not_found(path)),
                (None, _) => disk.new_file(path),
                (Some(_), OpenMode::CreateNew) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{}", path.display()),
                    ))
                }
                (Some(ino), OpenMode::Truncate) => {
                    let inode = disk.inodes.get_mut(&ino).expect("named inode exists");
                    inode.current.clear();
                    inode.unsynced.push(FileChange::SetLen(0));
                    ino
                }
                (Some(ino), _) => ino,
            }
        };
        Ok(Arc::new(SimFile {
            disk: Arc::clone(&self.disk),
            ino,
            writable: mode != OpenMode::Read,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let disk = self.disk.lock();
        if disk.off {
            return Err(io::Error::other("power is off"));
        }
        let ino = disk.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(disk.inodes[ino].current.clone())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let disk = self.disk.lock();
        Ok(disk
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.disk.lock().dirs.insert(dir.to_path_buf());
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.off {
            return Ok(());
        }
        let ino = disk.names.remove(from).ok_or_else(|| not_found(from))?;
        disk.names.insert(to.to_path_buf(), ino);
        let change = DirChange::Rename(from.to_path_buf(), to.to_path_buf(), ino);
        disk.change_dir(parent(to), change);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.off {
            return Ok(());
        }
        disk.names.remove(path).ok_or_else(|| not_found(path))?;
        disk.change_dir(parent(path), DirChange::Unlink(path.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.off {
            return Ok(());
        }
        let changes = disk.dir_changes.remove(dir).unwrap_or_default();
        for c in &changes {
            c.apply(&mut disk.durable_names);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct SimFile {
    disk: Arc<Mutex<Disk>>,
    /// 0 for a file opened after the power went off.
    ino: u64,
    writable: bool,
}

impl SimFile {
    /// Apply a change unless the power is off; the running view changes at once.
    fn change(&self, change: FileChange) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "opened read-only",
            ));
        }
        let mut disk = self.disk.lock();
        if disk.off {
            return Ok(());
        }
        let inode = disk.inodes.get_mut(&self.ino).expect("open inode exists");
        change.apply(&mut inode.current);
        inode.unsynced.push(change);
        Ok(())
    }
}

impl StoreFile for SimFile {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.change(FileChange::Write(offset, buf.to_vec()))?;
        Ok(buf.len())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let disk = self.disk.lock();
        if disk.off {
            return Err(io::Error::other("power is off"));
        }
        let data = &disk.inodes[&self.ino].current;
        let from = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - from);
        buf[..n].copy_from_slice(&data[from..from + n]);
        Ok(n)
    }

    fn size(&self) -> io::Result<u64> {
        let disk = self.disk.lock();
        Ok(disk
            .inodes
            .get(&self.ino)
            .map_or(0, |i| i.current.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.change(FileChange::SetLen(len))
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.off {
            return Ok(());
        }
        let inode = disk.inodes.get_mut(&self.ino).expect("open inode exists");
        for c in std::mem::take(&mut inode.unsynced) {
            c.apply(&mut inode.durable);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_keeps_synced_data_and_at_most_a_prefix_of_the_rest() {
        let dir = Path::new("/d");
        for seed in 1..200 {
            let fs = SimFs::new();
            let f = fs.open(&dir.join("a"), OpenMode::CreateNew).expect("open");
            f.write_at(b"synced", 0).expect("write");
            f.sync_data().expect("sync");
            fs.sync_dir(dir).expect("sync dir");
            f.write_at(b"-later", 6).expect("write");
            fs.open(&dir.join("b"), OpenMode::CreateNew).expect("open");
            let after = fs.power_cut(seed);
            let a = after.read(&dir.join("a")).expect("a survives");
            assert!(b"synced-later".starts_with(&a) && a.len() >= 6, "{a:?}");
            // The old disk is off: writing to it changes nothing that survived.
            f.write_at(b"X", 0).expect("accepted");
            assert_eq!(after.read(&dir.join("a")).expect("a"), a);
        }
    }

    #[test]
    fn unsynced_directory_changes_may_be_lost() {
        let dir = Path::new("/d");
        let mut lost = 0;
        for seed in 1..100 {
            let fs = SimFs::new();
            let f = fs
                .open(&dir.join("new"), OpenMode::CreateNew)
                .expect("open");
            f.write_at(b"data", 0).expect("write");
            f.sync_data().expect("sync");
            let after = fs.power_cut(seed);
            lost += usize::from(after.read(&dir.join("new")).is_err());
        }
        assert!(lost > 0 && lost < 99, "lost {lost} of 99");
    }
}
