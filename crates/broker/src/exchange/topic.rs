//! Topic routing: a trie over dot-separated words with `*` (one word) and `#` (zero or more)
//! nodes, so a message is matched by walking its words, not by testing every binding.

use std::collections::{HashMap, HashSet};

use super::Destination;

#[derive(Debug, Default)]
pub struct TopicRoutes {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    words: HashMap<Box<[u8]>, Node>,
    star: Option<Box<Node>>,
    hash: Option<Box<Node>>,
    destinations: Vec<Destination>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.words.is_empty()
            && self.star.is_none()
            && self.hash.is_none()
            && self.destinations.is_empty()
    }
}

/// RabbitMQ's word split: the empty key has no words; otherwise every dot separates a word.
pub fn words(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    let empty = key.is_empty();
    key.split(|&b| b == b'.').filter(move |_| !empty)
}

/// The words a binding key is stored under: consecutive `#` collapse into one (`#.#`
/// matches exactly what `#` does), so a key of many `#` cannot multiply the matching work.
fn pattern_words(key: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for word in words(key) {
        if word == b"#" && out.last() == Some(&&b"#"[..]) {
            continue;
        }
        out.push(word);
    }
    out
}

/// A matching state: a trie node and how many words of the routing key are consumed.
/// `in_hash` marks the loop of a `#` node, which may swallow one more word or stop.
#[derive(Clone, Copy)]
struct State<'a> {
    node: &'a Node,
    pos: usize,
    in_hash: bool,
}

impl State<'_> {
    /// Identity for the seen-set: the node's address (nodes do not move while borrowed).
    fn key(&self) -> (*const Node, usize, bool) {
        (self.node, self.pos, self.in_hash)
    }
}

impl TopicRoutes {
    pub fn bind(&mut self, key: &[u8], destination: Destination) {
        let mut node = &mut self.root;
        for word in pattern_words(key) {
            node = match word {
                b"*" => node.star.get_or_insert_with(Box::default),
                b"#" => node.hash.get_or_insert_with(Box::default),
                w => node.words.entry(Box::from(w)).or_default(),
            };
        }
        node.destinations.push(destination);
    }

    pub fn unbind(&mut self, key: &[u8], destination: &Destination) {
        let parts = pattern_words(key);
        // Remove the destination at the end of the path, then prune emptied nodes bottom up.
        // Iterative: the path is walked again for each level pruned (keys are at most 128 words).
        let Some(node) = self.node_mut(&parts) else {
            return;
        };
        if let Some(i) = node.destinations.iter().position(|d| d == destination) {
            node.destinations.remove(i);
        }
        for depth in (0..parts.len()).rev() {
            let Some(parent) = self.node_mut(&parts[..depth]) else {
                return;
            };
            let pruned = match parts[depth] {
                b"*" => take_if_empty(&mut parent.star),
                b"#" => take_if_empty(&mut parent.hash),
                w => {
                    let empty = parent.words.get(w).is_some_and(Node::is_empty);
                    if empty {
                        parent.words.remove(w);
                    }
                    empty
                }
            };
            if !pruned {
                return;
            }
        }
    }

    fn node_mut(&mut self, parts: &[&[u8]]) -> Option<&mut Node> {
        let mut node = &mut self.root;
        for word in parts {
            node = match *word {
                b"*" => node.star.as_deref_mut()?,
                b"#" => node.hash.as_deref_mut()?,
                w => node.words.get_mut(w)?,
            };
        }
        Some(node)
    }

    /// Every destination whose pattern matches `routing_key`. Runs as a search over
    /// (node, words consumed) states with an explicit stack; states at `#` nodes are visited
    /// once each, which bounds the work by trie nodes × key words instead of growing
    /// exponentially with the number of `#` in a pattern.
    pub fn route(&self, routing_key: &[u8], out: &mut Vec<Destination>) {
        let parts: Vec<&[u8]> = words(routing_key).collect();
        let mut stack = vec![State {
            node: &self.root,
            pos: 0,
            in_hash: false,
        }];
        // Only states at `#` nodes can be reached twice (see `push_once`).
        let mut seen = Seen::default();
        while let Some(state) = stack.pop() {
            let node = state.node;
            let pos = state.pos;
            if state.in_hash {
                // `#` stops here, or swallows one more word.
                push_once(&mut stack, &mut seen, node, pos, false);
                if pos < parts.len() {
                    push_once(&mut stack, &mut seen, node, pos + 1, true);
                }
                continue;
            }
            if let Some(hash) = &node.hash {
                push_once(&mut stack, &mut seen, hash, pos, true);
            }
            let Some(word) = parts.get(pos) else {
                out.extend(node.destinations.iter().cloned());
                continue;
            };
            if let Some(child) = node.words.get(*word) {
                stack.push(State {
                    node: child,
                    pos: pos + 1,
                    in_hash: false,
                });
            }
            if let Some(star) = &node.star {
                stack.push(State {
                    node: star,
                    pos: pos + 1,
                    in_hash: false,
                });
            }
        }
    }
}

/// Drop a `*` or `#` child left empty; true if it went.
fn take_if_empty(slot: &mut Option<Box<Node>>) -> bool {
    let empty = slot.as_ref().is_some_and(|n| n.is_empty());
    if empty {
        *slot = None;
    }
    empty
}

/// Push a state at a `#` node unless it was reached before. Other states need no check: a
/// word or `*` node is entered only from its parent one word earlier, so it is reached twice
/// only if its parent was, and every path that can repeat runs through a `#` node.
fn push_once<'a>(
    stack: &mut Vec<State<'a>>,
    seen: &mut Seen,
    node: &'a Node,
    pos: usize,
    in_hash: bool,
) {
    let state = State { node, pos, in_hash };
    if seen.insert(state.key()) {
        stack.push(state);
    }
}

type StateKey = (*const Node, usize, bool);

/// States at `#` nodes reached so far in one `route`. Usually a handful (one `#` node at
/// the root, a short key): those stay in an array on the stack and are found by a scan, so
/// routing allocates and hashes nothing for them; beyond that a hash set takes over.
struct Seen {
    few: [StateKey; SEEN_FEW],
    len: usize,
    many: HashSet<StateKey>,
}

const SEEN_FEW: usize = 16;

impl Default for Seen {
    fn default() -> Self {
        Self {
            few: [(std::ptr::null(), 0, false); SEEN_FEW],
            len: 0,
            many: HashSet::new(),
        }
    }
}

impl Seen {
    /// True if `key` was not seen before.
    fn insert(&mut self, key: StateKey) -> bool {
        if self.few[..self.len].contains(&key) {
            return false;
        }
        if self.len < SEEN_FEW {
            self.few[self.len] = key;
            self.len += 1;
            return true;
        }
        self.many.insert(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn routes(bindings: &[&str]) -> TopicRoutes {
        let mut t = TopicRoutes::default();
        for b in bindings {
            t.bind(b.as_bytes(), Destination::Exchange(Arc::from(*b)));
        }
        t
    }

    fn matched(t: &TopicRoutes, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        t.route(key.as_bytes(), &mut out);
        let mut names: Vec<String> = out
            .into_iter()
            .map(|d| match d {
                Destination::Exchange(n) => n.to_string(),
                Destination::Queue(q) => q.name().to_string(),
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn rabbitmq_tutorial_patterns() {
        let t = routes(&["*.orange.*", "*.*.rabbit", "lazy.#"]);
        assert_eq!(
            matched(&t, "quick.orange.rabbit"),
            ["*.*.rabbit", "*.orange.*"]
        );
        assert_eq!(
            matched(&t, "lazy.orange.elephant"),
            ["*.orange.*", "lazy.#"]
        );
        assert_eq!(matched(&t, "quick.orange.fox"), ["*.orange.*"]);
        assert_eq!(matched(&t, "lazy.brown.fox"), ["lazy.#"]);
        assert_eq!(matched(&t, "lazy.pink.rabbit"), ["*.*.rabbit", "lazy.#"]);
        assert!(matched(&t, "quick.brown.fox").is_empty());
        assert!(matched(&t, "orange").is_empty());
        assert!(matched(&t, "quick.orange.male.rabbit").is_empty());
        assert_eq!(matched(&t, "lazy.orange.male.rabbit"), ["lazy.#"]);
        assert_eq!(matched(&t, "lazy"), ["lazy.#"]);
    }

    #[test]
    fn hash_matches_zero_or_more_words_and_empty_words_count() {
        let t = routes(&["#", "a.#.b", "a..b", "#.z"]);
        assert_eq!(matched(&t, ""), ["#"]);
        assert_eq!(matched(&t, "a.b"), ["#", "a.#.b"]);
        assert_eq!(matched(&t, "a.x.y.b"), ["#", "a.#.b"]);
        assert_eq!(matched(&t, "a..b"), ["#", "a.#.b", "a..b"]);
        assert_eq!(matched(&t, "z"), ["#", "#.z"]);
    }

    /// The textbook matcher, for comparison: dynamic programming over (pattern word, key word).
    fn reference_match(pattern: &str, key: &str) -> bool {
        let p: Vec<&[u8]> = words(pattern.as_bytes()).collect();
        let k: Vec<&[u8]> = words(key.as_bytes()).collect();
        // m[i][j]: the first i pattern words match the first j key words.
        let mut m = vec![vec![false; k.len() + 1]; p.len() + 1];
        m[0][0] = true;
        for i in 1..=p.len() {
            for j in 0..=k.len() {
                m[i][j] = match p[i - 1] {
                    b"#" => m[i - 1][j] || (j > 0 && m[i][j - 1]),
                    b"*" => j > 0 && m[i - 1][j - 1],
                    w => j > 0 && m[i - 1][j - 1] && k[j - 1] == w,
                };
            }
        }
        m[p.len()][k.len()]
    }

    proptest::proptest! {
        #[test]
        fn matches_like_the_textbook_matcher(
            patterns in proptest::collection::vec("(a|b|\\*|#)(\\.(a|b|\\*|#)){0,6}", 1..6),
            key in "((a|b|c)(\\.(a|b|c)){0,8})?",
        ) {
            let t = routes(&patterns.iter().map(String::as_str).collect::<Vec<_>>());
            let mut expected: Vec<String> = patterns
                .iter()
                .filter(|p| reference_match(p, &key))
                .cloned()
                .collect();
            expected.sort();
            expected.dedup();
            proptest::prop_assert_eq!(matched(&t, &key), expected);
        }
    }

    #[test]
    fn many_hash_words_route_in_linear_time() {
        // 30 `#` (RabbitMQ loses a channel to this; the old recursive matcher never finished),
        // and `#` between literal words, against a 200-word key.
        let all_hash = vec!["#"; 30].join(".");
        let interleaved = vec!["#.a"; 40].join(".");
        let t = routes(&[&all_hash, &interleaved, "#.b.#.c.#.d.#.e.#.f"]);
        let key = vec!["a"; 200].join(".");
        let started = std::time::Instant::now();
        assert_eq!(matched(&t, &key), [all_hash.clone(), interleaved]);
        let no_match = vec!["a"; 199].join(".") + ".z";
        assert_eq!(matched(&t, &no_match), [all_hash]);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn unbind_removes_only_that_binding() {
        let mut t = routes(&["a.*", "a.#"]);
        t.unbind(b"a.*", &Destination::Exchange(Arc::from("a.*")));
        assert_eq!(matched(&t, "a.b"), ["a.#"]);
        t.unbind(b"a.#", &Destination::Exchange(Arc::from("a.#")));
        assert!(matched(&t, "a.b").is_empty());
        assert!(t.root.is_empty());
    }
}
