//! Topic names, topic filters and matching (MQTT 3.1.1 §4.7).

/// A topic name a client may publish to: not empty, no wildcard characters.
pub(crate) fn is_valid_name(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#'])
}

/// A topic filter a client may subscribe to: not empty, `+` only as a whole
/// level, `#` only as the whole last level.
pub(crate) fn is_valid_filter(filter: &str) -> bool {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let multi_ok = level == "#" && levels.peek().is_none();
        if (level.contains('#') && !multi_ok) || (level.contains('+') && level != "+") {
            return false;
        }
    }
    !filter.is_empty()
}

/// Whether `filter` (valid) matches `topic` (a valid name).
///
/// A filter that starts with a wildcard never matches a topic starting with `$`
/// (§4.7.2), so `#` does not see `$oc/...`, while `$oc/devices/+/sys/#` does.
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
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
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d/c"));
        assert!(matches("a/#", "a"), "`#` also matches the parent level");
        assert!(matches("a/#", "a/b/c"));
        assert!(!matches("a/#", "ab"));
        assert!(matches("+/+", "/finance"), "empty levels count");
        assert!(!matches("+", "a/b"));
        assert!(matches("#", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
    }

    #[test]
    fn dollar_topics_need_an_explicit_first_level() {
        let topic = "$oc/devices/x/sys/commands/request_id=1";
        assert!(matches("$oc/devices/x/sys/#", topic));
        assert!(matches("$oc/devices/+/sys/commands/+", topic));
        assert!(!matches("#", topic));
        assert!(!matches("+/devices/#", topic));
        assert!(!matches("$oc/devices/y/sys/#", topic));
    }

    #[test]
    fn filter_validation() {
        for ok in ["#", "+", "a/#", "+/b/+", "$oc/devices/x/sys/#", "/"] {
            assert!(is_valid_filter(ok), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a/b+", "+a/b", "##"] {
            assert!(!is_valid_filter(bad), "{bad}");
        }
    }

    #[test]
    fn name_validation() {
        assert!(is_valid_name("$oc/devices/x/sys/messages/up"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a/+"));
        assert!(!is_valid_name("a/#"));
    }
}
