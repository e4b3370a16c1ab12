//! MQTT topic names, topic filters and matching (MQTT 3.1.1 §4.7), shared by
//! the SDK (custom-topic routing, checks before anything reaches the wire)
//! and the emulator's broker.

/// The longest topic name or filter MQTT can encode (a 16-bit length).
const MAX_LEN: usize = u16::MAX as usize;

/// A topic name one may publish to: 1 to 65535 bytes, no wildcard, no NUL.
pub fn is_valid_topic_name(topic: &str) -> bool {
    (1..=MAX_LEN).contains(&topic.len()) && !topic.contains(['+', '#', '\0'])
}

/// A topic filter one may subscribe to: 1 to 65535 bytes, no NUL, `+` only
/// as a whole level, `#` only as the whole last level.
pub fn is_valid_filter(filter: &str) -> bool {
    if !(1..=MAX_LEN).contains(&filter.len()) || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last_multi = level == "#" && levels.peek().is_none();
        if (level.contains('#') && !last_multi) || (level.contains('+') && level != "+") {
            return false;
        }
    }
    true
}

/// Whether `filter` (valid) matches `topic` (a valid name): `+` is one level,
/// `#` the rest (including the parent level). A filter that starts with a
/// wildcard never matches a topic starting with `$` (MQTT 3.1.1 §4.7.2), so `#` does not
/// see `$oc/...` while `$oc/devices/+/sys/#` does.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) | (None, None) => return true,
            (Some(f), Some(t)) if f == "+" || f == t => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_levels() {
        assert!(filter_matches("a/+/c", "a/b/c"));
        assert!(!filter_matches("a/+/c", "a/b/d/c"));
        assert!(
            filter_matches("a/#", "a"),
            "`#` also matches the parent level"
        );
        assert!(filter_matches("a/#", "a/b/c"));
        assert!(!filter_matches("a/#", "ab"));
        assert!(filter_matches("+/+", "/finance"), "empty levels count");
        assert!(!filter_matches("+", "a/b"));
        assert!(filter_matches("#", "a/b"));
        assert!(!filter_matches("a/b", "a/b/c"));
        assert!(!filter_matches("a/b/c", "a/b"));
    }

    #[test]
    fn dollar_topics_need_an_explicit_first_level() {
        let topic = "$oc/devices/x/sys/commands/request_id=1";
        assert!(filter_matches("$oc/devices/x/sys/#", topic));
        assert!(filter_matches("$oc/devices/+/sys/commands/+", topic));
        assert!(!filter_matches("#", topic));
        assert!(!filter_matches("+/devices/#", topic));
        assert!(!filter_matches("$oc/devices/y/sys/#", topic));
        let user = "$oc/devices/d/user/a/b";
        assert!(filter_matches("$oc/devices/d/user/#", user));
        assert!(filter_matches("$oc/devices/+/user/+/b", user));
        assert!(filter_matches("$oc/devices/d/user/a/b/#", user));
        assert!(!filter_matches("$oc/devices/d/user/+", user));
    }

    #[test]
    fn filter_validation() {
        for ok in ["#", "+", "a/#", "+/b/+", "$oc/devices/x/sys/#", "/"] {
            assert!(is_valid_filter(ok), "{ok}");
        }
        let too_long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            "a#",
            "a/#/b",
            "a/b+",
            "+a/b",
            "##",
            "a\0b",
            too_long.as_str(),
        ] {
            assert!(!is_valid_filter(bad), "{bad:.20}");
        }
    }

    #[test]
    fn name_validation() {
        assert!(is_valid_topic_name("$oc/devices/x/sys/messages/up"));
        for bad in ["", "a/+", "a/#", "a\0b"] {
            assert!(!is_valid_topic_name(bad), "{bad}");
        }
        assert!(!is_valid_topic_name(&"a".repeat(MAX_LEN + 1)));
    }
}
