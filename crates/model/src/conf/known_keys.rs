//! Whether RabbitMQ knows a key, and which known keys a mistyped one probably meant (as
//! RabbitMQ's "Did you mean one of these?", by edit distance).

use super::rabbitmq_keys::RABBITMQ_KEYS;

/// True when some RabbitMQ schema maps this key (a `$name` segment matches any segment).
pub(super) fn is_known(segments: &[String]) -> bool {
    RABBITMQ_KEYS
        .iter()
        .any(|pattern| pattern_matches(pattern, segments))
}

fn pattern_matches(pattern: &str, segments: &[String]) -> bool {
    pattern.split('.').count() == segments.len()
        && pattern
            .split('.')
            .zip(segments)
            .all(|(want, got)| want.starts_with('$') || want == got)
}

/// Up to three known keys closest to `segments`, closest first; none that are too far off
/// to be a typo. A pattern's `$name` segments take the key's own segment, so
/// `default_user_tag.administrator` suggests `default_user_tags.administrator`.
pub(super) fn suggestions(segments: &[String]) -> Vec<String> {
    let key = segments.join(".");
    let farthest = (key.len() / 3).max(2);
    let mut scored: Vec<(usize, String)> = RABBITMQ_KEYS
        .iter()
        .map(|pattern| {
            let candidate = instantiate(pattern, segments);
            (edit_distance(&key, &candidate), candidate)
        })
        .filter(|(distance, _)| *distance <= farthest)
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, candidate)| candidate)
        .collect()
}

fn instantiate(pattern: &str, segments: &[String]) -> String {
    pattern
        .split('.')
        .enumerate()
        .map(|(i, want)| match segments.get(i) {
            Some(got) if want.starts_with('$') => got.as_str(),
            _ => want,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(key: &str) -> Vec<String> {
        key.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn keys_of_the_broker_and_of_plugins_not_enabled_are_known() {
        for key in [
            "heartbeat",
            "listeners.tcp.default",
            "listeners.tcp.anything",
            "management.tcp.port",
            "mqtt.listeners.tcp.default",
            "cluster_formation.k8s.host",
            "deprecated_features.permit.classic_queue_mirroring",
            "queue_master_locator",
        ] {
            assert!(is_known(&segs(key)), "{key}");
        }
    }

    #[test]
    fn typos_and_wrong_depths_are_unknown() {
        for key in [
            "hartbeat",
            "heartbeat.seconds",
            "listeners.tcp.a.b",
            "management",
            "data_dir",
        ] {
            assert!(!is_known(&segs(key)), "{key}");
        }
    }

    #[test]
    fn a_typo_suggests_the_key_it_was_meant_to_be() {
        assert_eq!(suggestions(&segs("hartbeat"))[0], "heartbeat");
        assert_eq!(
            suggestions(&segs("default_user_tag.administrator"))[0],
            "default_user_tags.administrator"
        );
        assert_eq!(
            suggestions(&segs("clusterformation.classic_config.nodes.1"))[0],
            "cluster_formation.classic_config.nodes.1"
        );
        assert!(suggestions(&segs("completely_unrelated_setting_name")).is_empty());
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("hartbeat", "heartbeat"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
