//! Arbitrary bytes as a RabbitMQ definitions file, loaded into a fresh broker at start the
//! way `--definitions` does: start-up may refuse the file, but must not panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warren_broker::Broker;
use warren_fuzz::scratch::Scratch;

struct Dirs {
    data: Scratch,
    file: Scratch,
}

fn dirs() -> &'static Dirs {
    static DIRS: OnceLock<Dirs> = OnceLock::new();
    DIRS.get_or_init(|| Dirs {
        data: Scratch::new("definitions-data"),
        file: Scratch::new("definitions-file"),
    })
}

fuzz_target!(|data: &[u8]| {
    let dirs = dirs();
    let threads = warren_fuzz::thread_count();
    check(dirs, data);
    warren_fuzz::assert_no_thread_leak(threads, "a broker started on these definitions");
});

/// The metadata sections that must survive a restart (transient queues and exchanges do not).
fn durable_metadata(broker: &Broker) -> Vec<String> {
    let d = warren_broker::definitions::export(broker, None);
    let json = |v: &dyn erased::Json| v.json();
    vec![
        json(&d.users),
        json(&d.vhosts),
        json(&d.permissions),
        json(&d.topic_permissions),
        json(&d.policies),
    ]
}

mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

fn check(dirs: &Dirs, data: &[u8]) {
    dirs.data.clear();
    let path = dirs.file.path().join("definitions.json");
    std::fs::write(&path, data).expect("write the definitions file");
    let mut config = warren_fuzz::server::config(dirs.data.path());
    config.definitions = Some(path);
    let Ok(broker) = Broker::new(config) else {
        return;
    };
    // What was loaded must be usable: every user logs in (or not), every permission's
    // patterns match (or not) a few names.
    {
        let users = broker.users.read();
        for u in broker.user_infos() {
            let _ = users.authenticate(&u.name, b"guest");
        }
        for p in broker.permission_infos() {
            let permission = users
                .permission(&p.user, &p.vhost)
                .expect("a listed permission is there");
            for name in ["", "amq.default", "q", "\u{e9}t\u{e9}"] {
                let _ = permission.configure.allows(name)
                    | permission.write.allows(name)
                    | permission.read.allows(name);
            }
        }
    }
    let before = durable_metadata(&broker);
    broker.shutdown();
    drop(broker);
    // Loaded definitions are journaled: a restart without the file brings them back.
    let restarted = Broker::new(warren_fuzz::server::config(dirs.data.path()))
        .expect("restart on the data directory just written");
    assert_eq!(
        before,
        durable_metadata(&restarted),
        "metadata lost in a restart"
    );
    restarted.shutdown();
}
