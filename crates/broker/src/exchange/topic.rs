//! Topic routing: a trie over dot-separated words with `*` (one word) and `#` (zero or more)
//! nodes, so a message is matched by walking its words, not by testing every binding.

use std::collections::HashMap;

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

impl TopicRoutes {
    pub fn bind(&mut self, key: &[u8], destination: Destination) {
        let mut node = &mut self.root;
        for word in words(key) {
            node = match word {
                b"*" => node.star.get_or_insert_with(Box::default),
                b"#" => node.hash.get_or_insert_with(Box::default),
                w => node.words.entry(Box::from(w)).or_default(),
            };
        }
        node.destinations.push(destination);
    }

    pub fn unbind(&mut self, key: &[u8], destination: &Destination) {
        let parts: Vec<&[u8]> = words(key).collect();
        remove(&mut self.root, &parts, destination);
    }

    pub fn route(&self, routing_key: &[u8], out: &mut Vec<Destination>) {
        // A small stack buffer would do for most keys; keys are short, so a Vec here is cheap.
        let parts: Vec<&[u8]> = words(routing_key).collect();
        match_node(&self.root, &parts, out);
    }
}

fn match_node(node: &Node, words: &[&[u8]], out: &mut Vec<Destination>) {
    if let Some(hash) = &node.hash {
        // `#` swallows zero or more words.
        for skip in 0..=words.len() {
            match_node(hash, &words[skip..], out);
        }
    }
    let Some((first, rest)) = words.split_first() else {
        out.extend(node.destinations.iter().cloned());
        return;
    };
    if let Some(child) = node.words.get(*first) {
        match_node(child, rest, out);
    }
    if let Some(star) = &node.star {
        match_node(star, rest, out);
    }
}

fn remove(node: &mut Node, words: &[&[u8]], destination: &Destination) -> bool {
    match words.split_first() {
        None => {
            if let Some(i) = node.destinations.iter().position(|d| d == destination) {
                node.destinations.remove(i);
            }
        }
        Some((first, rest)) => match *first {
            b"*" => {
                if let Some(star) = &mut node.star {
                    if remove(star, rest, destination) {
                        node.star = None;
                    }
                }
            }
            b"#" => {
                if let Some(hash) = &mut node.hash {
                    if remove(hash, rest, destination) {
                        node.hash = None;
                    }
                }
            }
            w => {
                if let Some(child) = node.words.get_mut(w) {
                    if remove(child, rest, destination) {
                        node.words.remove(w);
                    }
                }
            }
        },
    }
    node.is_empty()
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
