//! The open files the store keeps per segment (readers for paged-out messages, ack files),
//! bounded: a backlog spread over thousands of segments must not run the process out of
//! file descriptors. The least recently used handle is closed and reopened when needed.

use std::sync::Arc;

use super::io::StoreFile;
use super::{SegInfo, SegState};

/// Segment files kept open for reading paged-out and recovered messages.
pub(super) const READERS_OPEN_MAX: usize = 256;
/// Ack files kept open between the flusher's rounds.
pub(super) const ACK_FILES_OPEN_MAX: usize = 256;

/// Which per-segment handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Handle {
    Reader,
    AckFile,
}

impl Handle {
    fn max(self) -> usize {
        match self {
            Handle::Reader => READERS_OPEN_MAX,
            Handle::AckFile => ACK_FILES_OPEN_MAX,
        }
    }

    fn slot(self, info: &mut SegInfo) -> &mut Option<Arc<dyn StoreFile>> {
        match self {
            Handle::Reader => &mut info.reader,
            Handle::AckFile => &mut info.ack_file,
        }
    }

    fn is_open(self, info: &SegInfo) -> bool {
        match self {
            Handle::Reader => info.reader.is_some(),
            Handle::AckFile => info.ack_file.is_some(),
        }
    }

    /// A compacted segment's reader is its copy, which its path names only once the flusher
    /// has renamed it: closing that handle would lose the records' new offsets' file.
    fn can_close(self, info: &SegInfo) -> bool {
        self.is_open(info) && !(self == Handle::Reader && info.renaming)
    }
}

impl SegState {
    /// Note a use of a segment's handle (for least-recently-used closing).
    pub(super) fn touch(&mut self, kind: Handle, id: u32) {
        self.clock += 1;
        let now = self.clock;
        if let Some(info) = self.segs.get_mut(&id) {
            match kind {
                Handle::Reader => info.reader_used = now,
                Handle::AckFile => info.ack_used = now,
            }
        }
    }

    /// Keep a handle for `id` and close the least recently used others of its kind beyond
    /// the limit. A linear scan, done only when a file was just opened.
    pub(super) fn keep_open(&mut self, kind: Handle, id: u32, file: Arc<dyn StoreFile>) {
        let Some(info) = self.segs.get_mut(&id) else {
            return;
        };
        *kind.slot(info) = Some(file);
        self.touch(kind, id);
        let mut open = self.segs.values().filter(|i| kind.is_open(i)).count();
        while open > kind.max() {
            let oldest = self
                .segs
                .iter()
                .filter(|(other, i)| **other != id && kind.can_close(i))
                .min_by_key(|(_, i)| match kind {
                    Handle::Reader => i.reader_used,
                    Handle::AckFile => i.ack_used,
                })
                .map(|(other, _)| *other);
            let Some(oldest) = oldest.and_then(|o| self.segs.get_mut(&o)) else {
                return;
            };
            *kind.slot(oldest) = None;
            open -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim::SimFs;
    use crate::io::{OpenMode, StoreFs};
    use std::path::Path;

    fn file(fs: &SimFs, id: u32) -> Arc<dyn StoreFile> {
        fs.open(Path::new(&format!("/{id}.seg")), OpenMode::Create)
            .expect("open a simulated file")
    }

    fn state(segments: u32) -> SegState {
        let mut st = SegState::default();
        for id in 0..segments {
            st.segs.insert(id, SegInfo::default());
        }
        st
    }

    #[test]
    fn readers_beyond_the_limit_close_the_least_recently_used() {
        let fs = SimFs::new();
        let mut st = state(READERS_OPEN_MAX as u32 + 50);
        for id in 0..READERS_OPEN_MAX as u32 {
            st.keep_open(Handle::Reader, id, file(&fs, id));
        }
        // Segment 0 is used again: segment 1 is now the least recently used.
        st.touch(Handle::Reader, 0);
        for id in READERS_OPEN_MAX as u32..READERS_OPEN_MAX as u32 + 50 {
            st.keep_open(Handle::Reader, id, file(&fs, id));
        }
        let open: Vec<u32> = st
            .segs
            .iter()
            .filter(|(_, i)| i.reader.is_some())
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(open.len(), READERS_OPEN_MAX);
        assert!(open.contains(&0), "the segment used again was closed");
        assert!(
            !open.contains(&1),
            "the least recently used segment stayed open"
        );
        assert!(
            open.contains(&(READERS_OPEN_MAX as u32 + 49)),
            "the newest was closed"
        );
    }

    #[test]
    fn a_compacted_segments_reader_stays_open_until_renamed() {
        let fs = SimFs::new();
        let mut st = state(READERS_OPEN_MAX as u32 + 10);
        st.keep_open(Handle::Reader, 0, file(&fs, 0));
        if let Some(info) = st.segs.get_mut(&0) {
            info.renaming = true;
        }
        for id in 1..READERS_OPEN_MAX as u32 + 10 {
            st.keep_open(Handle::Reader, id, file(&fs, id));
        }
        assert!(
            st.segs[&0].reader.is_some(),
            "the compacted copy's handle was closed"
        );
        let open = st.segs.values().filter(|i| i.reader.is_some()).count();
        assert_eq!(open, READERS_OPEN_MAX);
    }

    #[test]
    fn ack_files_are_bounded_apart_from_readers() {
        let fs = SimFs::new();
        let mut st = state(ACK_FILES_OPEN_MAX as u32 + 5);
        for id in 0..ACK_FILES_OPEN_MAX as u32 + 5 {
            st.keep_open(Handle::AckFile, id, file(&fs, id));
            st.keep_open(Handle::Reader, id, file(&fs, id));
        }
        let acks = st.segs.values().filter(|i| i.ack_file.is_some()).count();
        let readers = st.segs.values().filter(|i| i.reader.is_some()).count();
        assert_eq!(acks, ACK_FILES_OPEN_MAX);
        assert_eq!(readers, READERS_OPEN_MAX);
    }
}
