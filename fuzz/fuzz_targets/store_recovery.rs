//! Recovery from an arbitrary data directory (journal, segments, ack files; see
//! `warren_fuzz::store_image` for the input format): the offline check, two store opens and a
//! full broker start must not panic, and opening twice must recover the same messages.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warren_broker::Broker;
use warren_fuzz::scratch::Scratch;
use warren_fuzz::store_image::Image;
use warren_store::{Store, StoreConfig};

/// Per queue: each recovered message's id, redelivered flag, and whether it reads back.
type Summary = BTreeMap<u32, Vec<(u64, bool, bool)>>;

/// Open the store, read back every recovered message, close it again.
fn open_and_read(dir: &Path) -> Option<Summary> {
    let (store, recovered) = Store::open(StoreConfig {
        fs: std::sync::Arc::new(warren_store::io::OsFs),
        dir: dir.to_path_buf(),
        segment_size: 64 << 10,
        memory_budget: 1 << 20,
    })
    .ok()?;
    let mut summary = Summary::new();
    for (queue, list) in &recovered.messages {
        let read = list
            .iter()
            .map(|r| (r.loc.msg_id, r.redelivered, store.read(&r.loc).is_ok()))
            .collect();
        summary.insert(*queue, read);
    }
    store.close();
    Some(summary)
}

fn scratch() -> &'static Scratch {
    static DIR: OnceLock<Scratch> = OnceLock::new();
    DIR.get_or_init(|| Scratch::new("store-recovery"))
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    let threads = warren_fuzz::thread_count();
    dir.clear();
    let image = Image::parse(data);
    image.write(dir.path()).expect("write the data directory");
    let _ = warren_store::check(dir.path());
    let first = open_and_read(dir.path());
    let second = open_and_read(dir.path());
    // Each open starts a segment after the newest: next to the largest id the first open
    // takes the last id there is, and the second must then refuse to start.
    let ids_left = image
        .segments
        .keys()
        .last()
        .is_none_or(|&id| id < u32::MAX - 1);
    if ids_left {
        assert_eq!(first, second, "a second recovery found something else");
    }
    if let Ok(broker) = Broker::new(warren_fuzz::server::config(dir.path())) {
        broker.shutdown();
    }
    warren_fuzz::assert_no_thread_leak(threads, "recovery");
});
