//! Device topics `$oc/devices/{device_id}/…` (§1.9, §2.1, §2.2, §2.8).
//!
//! `TopicKind::template` is the single table of topic strings: formatting
//! writes it and parsing matches against it, so the two are exact inverses.

use std::fmt;

/// Every topic starts with this, followed by the device id and `/`.
const PREFIX: &str = "$oc/devices/";

/// Request topics end with this marker followed by the request id.
const REQUEST_ID: &str = "request_id=";

/// What a device topic is for; the part after `$oc/devices/{device_id}/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// Up: free-form device message (§3.1).
    MessagesUp,
    /// Down: platform message (§3.2).
    MessagesDown,
    /// Up: property report (§3.3).
    PropertiesReport,
    /// Up: a gateway's batch property report for its child devices (§3.4).
    GatewayPropertiesReport,
    /// Down: property write request (§3.5).
    PropertiesSet {
        /// Opaque id chosen by the platform.
        request_id: String,
    },
    /// Up: property write result (§3.5).
    PropertiesSetResponse {
        /// The id of the request being answered.
        request_id: String,
    },
    /// Down: property read request (§3.6).
    PropertiesGet {
        /// Opaque id chosen by the platform.
        request_id: String,
    },
    /// Up: property read result (§3.6).
    PropertiesGetResponse {
        /// The id of the request being answered.
        request_id: String,
    },
    /// Up: the device asks for its shadow (§3.7).
    ShadowGet {
        /// Opaque id chosen by the device.
        request_id: String,
    },
    /// Down: the shadow (§3.7).
    ShadowGetResponse {
        /// The id of the request being answered.
        request_id: String,
    },
    /// Down: command (§3.8).
    Command {
        /// Opaque id chosen by the platform.
        request_id: String,
    },
    /// Up: command result (§3.8).
    CommandResponse {
        /// The id of the request being answered.
        request_id: String,
    },
    /// Up: system events (§3.9, §4).
    EventsUp,
    /// Down: system events (§3.9, §4).
    EventsDown,
    /// Either way: a product-defined custom topic `user/{suffix}` (§2.2).
    User {
        /// Everything after `user/`; may contain `/`.
        suffix: String,
    },
}

/// Which way a topic's messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device to platform.
    Up,
    /// Platform to device.
    Down,
    /// Either way (custom `user/` topics).
    Both,
}

impl TopicKind {
    /// One constructor per variant, taking the variable tail (empty for fixed
    /// topics). Parsing tries them in turn against [`TopicKind::template`].
    const ALL: [fn(String) -> TopicKind; 15] = [
        |_| Self::MessagesUp,
        |_| Self::MessagesDown,
        |_| Self::PropertiesReport,
        |_| Self::GatewayPropertiesReport,
        |request_id| Self::PropertiesSet { request_id },
        |request_id| Self::PropertiesSetResponse { request_id },
        |request_id| Self::PropertiesGet { request_id },
        |request_id| Self::PropertiesGetResponse { request_id },
        |request_id| Self::ShadowGet { request_id },
        |request_id| Self::ShadowGetResponse { request_id },
        |request_id| Self::Command { request_id },
        |request_id| Self::CommandResponse { request_id },
        |_| Self::EventsUp,
        |_| Self::EventsDown,
        |suffix| Self::User { suffix },
    ];

    /// The fixed path after `$oc/devices/{device_id}/` and, for request and
    /// custom topics, the variable tail that follows it verbatim.
    fn template(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::MessagesUp => ("sys/messages/up", None),
            Self::MessagesDown => ("sys/messages/down", None),
            Self::PropertiesReport => ("sys/properties/report", None),
            Self::GatewayPropertiesReport => ("sys/gateway/sub_devices/properties/report", None),
            Self::PropertiesSet { request_id } => {
                ("sys/properties/set/request_id=", Some(request_id))
            }
            Self::PropertiesSetResponse { request_id } => {
                ("sys/properties/set/response/request_id=", Some(request_id))
            }
            Self::PropertiesGet { request_id } => {
                ("sys/properties/get/request_id=", Some(request_id))
            }
            Self::PropertiesGetResponse { request_id } => {
                ("sys/properties/get/response/request_id=", Some(request_id))
            }
            Self::ShadowGet { request_id } => ("sys/shadow/get/request_id=", Some(request_id)),
            Self::ShadowGetResponse { request_id } => {
                ("sys/shadow/get/response/request_id=", Some(request_id))
            }
            Self::Command { request_id } => ("sys/commands/request_id=", Some(request_id)),
            Self::CommandResponse { request_id } => {
                ("sys/commands/response/request_id=", Some(request_id))
            }
            Self::EventsUp => ("sys/events/up", None),
            Self::EventsDown => ("sys/events/down", None),
            Self::User { suffix } => ("user/", Some(suffix)),
        }
    }

    /// Reads the path after `$oc/devices/{device_id}/`.
    fn parse(path: &str) -> Option<Self> {
        Self::ALL.iter().find_map(|make| {
            let blank = make(String::new());
            let (fixed, tail) = blank.template();
            if tail.is_some() {
                path.strip_prefix(fixed)
                    .map(|rest| make(request_id_tail(fixed, rest).to_owned()))
            } else {
                (path == fixed).then_some(blank)
            }
        })
    }

    /// Which way this kind of topic travels.
    pub fn direction(&self) -> Direction {
        match self {
            Self::MessagesDown
            | Self::PropertiesSet { .. }
            | Self::PropertiesGet { .. }
            | Self::ShadowGetResponse { .. }
            | Self::Command { .. }
            | Self::EventsDown => Direction::Down,
            Self::User { .. } => Direction::Both,
            _ => Direction::Up,
        }
    }

    /// The request id of a request or response topic.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::PropertiesSet { request_id }
            | Self::PropertiesSetResponse { request_id }
            | Self::PropertiesGet { request_id }
            | Self::PropertiesGetResponse { request_id }
            | Self::ShadowGet { request_id }
            | Self::ShadowGetResponse { request_id }
            | Self::Command { request_id }
            | Self::CommandResponse { request_id } => Some(request_id),
            _ => None,
        }
    }

    /// The kind that answers this request kind, with the same request id.
    pub fn response(&self) -> Option<Self> {
        let request_id = self.request_id()?.to_owned();
        match self {
            Self::PropertiesSet { .. } => Some(Self::PropertiesSetResponse { request_id }),
            Self::PropertiesGet { .. } => Some(Self::PropertiesGetResponse { request_id }),
            Self::ShadowGet { .. } => Some(Self::ShadowGetResponse { request_id }),
            Self::Command { .. } => Some(Self::CommandResponse { request_id }),
            _ => None,
        }
    }
}

/// The variable tail of a topic: for request topics the request id, which
/// is everything after the *last* `request_id=` (§2.8, as the Python SDK
/// reads it); for custom topics the whole suffix.
fn request_id_tail<'a>(fixed: &str, rest: &'a str) -> &'a str {
    if !fixed.ends_with(REQUEST_ID) {
        return rest;
    }
    rest.rsplit_once(REQUEST_ID).map_or(rest, |(_, id)| id)
}

/// A device topic: whose it is and what it is for.
///
/// `Display` writes the exact wire string; [`Topic::parse`] reads it back.
/// The request id is everything after the last `request_id=`, copied
/// verbatim into the response topic (it may contain `/` or `=`, §2.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The device id in the topic (a gateway's own id, also for child traffic).
    pub device_id: String,
    /// What the topic is for.
    pub kind: TopicKind,
}

impl Topic {
    /// A topic of `device_id`.
    pub fn new(device_id: impl Into<String>, kind: TopicKind) -> Self {
        Self {
            device_id: device_id.into(),
            kind,
        }
    }

    /// Parses a topic under `$oc/devices/{device_id}/`; `None` for anything
    /// else (custom policy topics, bootstrap, bridge, unknown `sys/` paths,
    /// request topics without `request_id=`, an empty device id).
    pub fn parse(topic: &str) -> Option<Self> {
        let (device_id, path) = topic.strip_prefix(PREFIX)?.split_once('/')?;
        if device_id.is_empty() {
            return None;
        }
        Some(Self::new(device_id, TopicKind::parse(path)?))
    }

    /// Whether the platform sends on this topic (and only the platform).
    pub fn is_downlink(&self) -> bool {
        self.kind.direction() == Direction::Down
    }

    /// The request id of a request or response topic.
    pub fn request_id(&self) -> Option<&str> {
        self.kind.request_id()
    }

    /// The topic answering this request topic (property set/get, command,
    /// shadow get), on the same device id and with the same request id.
    pub fn response(&self) -> Option<Topic> {
        Some(Self::new(self.device_id.clone(), self.kind.response()?))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (fixed, tail) = self.kind.template();
        write!(
            f,
            "{PREFIX}{}/{fixed}{}",
            self.device_id,
            tail.unwrap_or("")
        )
    }
}

/// A new request id: a random UUID (version 4), as the official SDKs and
/// the platform choose them (§2.8).
pub fn new_request_id() -> String {
    const VERSION_MASK: u128 = 0xf << 76;
    const VERSION_4: u128 = 0x4 << 76;
    const VARIANT_MASK: u128 = 0x3 << 62;
    const VARIANT_RFC: u128 = 0x2 << 62;
    let random = fastrand::u128(..);
    let bits = (random & !VERSION_MASK & !VARIANT_MASK) | VERSION_4 | VARIANT_RFC;
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The subscription filters for the system downlinks of `device_id`, in the
/// order of §1.9. The real platform subscribes them itself; a plain broker
/// needs them. Request filters also match the device's own responses on such
/// a broker: [`Topic::is_downlink`] tells them apart.
pub fn system_filters(device_id: &str) -> Vec<String> {
    [
        "sys/messages/down",
        "sys/commands/#",
        "sys/properties/set/#",
        "sys/properties/get/#",
        "sys/shadow/get/response/#",
        "sys/events/down",
    ]
    .iter()
    .map(|path| format!("{PREFIX}{device_id}/{path}"))
    .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rid(id: &str) -> String {
        id.to_owned()
    }

    /// Every row of the §2.1 table, with `{device_id}` = `d1` and `{request_id}` = `r1`.
    fn table() -> Vec<(&'static str, TopicKind)> {
        use TopicKind::*;
        vec![
            ("$oc/devices/d1/sys/messages/up", MessagesUp),
            ("$oc/devices/d1/sys/messages/down", MessagesDown),
            ("$oc/devices/d1/sys/properties/report", PropertiesReport),
            (
                "$oc/devices/d1/sys/gateway/sub_devices/properties/report",
                GatewayPropertiesReport,
            ),
            (
                "$oc/devices/d1/sys/properties/set/request_id=r1",
                PropertiesSet {
                    request_id: rid("r1"),
                },
            ),
            (
                "$oc/devices/d1/sys/properties/set/response/request_id=r1",
                PropertiesSetResponse {
                    request_id: rid("r1"),
                },
            ),
            (
                "$oc/devices/d1/sys/properties/get/request_id=r1",
                PropertiesGet {
                    request_id: rid("r1"),
                },
            ),
            (
                "$oc/devices/d1/sys/properties/get/response/request_id=r1",
                PropertiesGetResponse {
                    request_id: rid("r1"),
                },
            ),
            (
                "$oc/devices/d1/sys/shadow/get/request_id=r1",
                ShadowGet {
                    request_id: rid("r1"),
                },
            ),
            (
                "$oc/devices/d1/sys/shadow/get/response/request_id=r1",
                ShadowGetResponse {
                    request_id: rid("r1"),
                },
            ),
            (
                "$oc/devices/d1/sys/commands/request_id=r1",
                Command {
                    request_id: rid("r1"),
                },
            ),
            (
                "$oc/devices/d1/sys/commands/response/request_id=r1",
                CommandResponse {
                    request_id: rid("r1"),
                },
            ),
            ("$oc/devices/d1/sys/events/up", EventsUp),
            ("$oc/devices/d1/sys/events/down", EventsDown),
            (
                "$oc/devices/d1/user/a/b",
                User {
                    suffix: "a/b".into(),
                },
            ),
        ]
    }

    #[test]
    fn every_core_topic_formats_and_parses_exactly() {
        for (wire, kind) in table() {
            let topic = Topic::new("d1", kind);
            assert_eq!(topic.to_string(), wire);
            assert_eq!(Topic::parse(wire), Some(topic), "{wire}");
        }
    }

    #[test]
    fn directions_follow_the_table() {
        let down: Vec<_> = table()
            .into_iter()
            .filter(|(_, kind)| Topic::new("d1", kind.clone()).is_downlink())
            .map(|(wire, _)| wire.trim_start_matches("$oc/devices/d1/"))
            .collect();
        assert_eq!(
            down,
            [
                "sys/messages/down",
                "sys/properties/set/request_id=r1",
                "sys/properties/get/request_id=r1",
                "sys/shadow/get/response/request_id=r1",
                "sys/commands/request_id=r1",
                "sys/events/down",
            ]
        );
        assert_eq!(
            TopicKind::User { suffix: "x".into() }.direction(),
            Direction::Both
        );
    }

    #[test]
    fn device_ids_with_underscores_and_dots_parse() {
        let topic = Topic::parse("$oc/devices/prod1_node1.x/sys/events/down").unwrap();
        assert_eq!(topic.device_id, "prod1_node1.x");
        assert_eq!(topic.kind, TopicKind::EventsDown);
    }

    #[test]
    fn odd_request_ids_round_trip_verbatim() {
        for id in ["a/b", "x=y", "", "ид-请求-🚀", "?encoding=gzip"] {
            let wire = format!("$oc/devices/d1/sys/commands/request_id={id}");
            let topic = Topic::parse(&wire).unwrap();
            assert_eq!(topic.request_id(), Some(id));
            assert_eq!(topic.to_string(), wire);
            assert_eq!(
                topic.response().unwrap().to_string(),
                format!("$oc/devices/d1/sys/commands/response/request_id={id}")
            );
        }
    }

    #[test]
    fn the_request_id_follows_the_last_marker() {
        let topic = Topic::parse("$oc/devices/d1/sys/commands/request_id=a/request_id=b").unwrap();
        assert_eq!(topic.request_id(), Some("b"));
        assert_eq!(
            topic.response().unwrap().to_string(),
            "$oc/devices/d1/sys/commands/response/request_id=b"
        );
        let custom = Topic::parse("$oc/devices/d1/user/request_id=a/request_id=b").unwrap();
        assert_eq!(
            custom.kind,
            TopicKind::User {
                suffix: "request_id=a/request_id=b".into()
            }
        );
    }

    #[test]
    fn responses_answer_requests_only() {
        let pairs = [
            (
                "sys/properties/set/request_id=7",
                "sys/properties/set/response/request_id=7",
            ),
            (
                "sys/properties/get/request_id=7",
                "sys/properties/get/response/request_id=7",
            ),
            (
                "sys/shadow/get/request_id=7",
                "sys/shadow/get/response/request_id=7",
            ),
            (
                "sys/commands/request_id=7",
                "sys/commands/response/request_id=7",
            ),
        ];
        for (request, response) in pairs {
            let request = Topic::parse(&format!("$oc/devices/d1/{request}")).unwrap();
            assert_eq!(
                request.response().unwrap().to_string(),
                format!("$oc/devices/d1/{response}")
            );
        }
        for (wire, kind) in table() {
            if kind.request_id().is_none() || wire.contains("/response/") {
                assert_eq!(Topic::new("d1", kind).response(), None, "{wire}");
            }
        }
    }

    #[test]
    fn foreign_and_malformed_topics_are_not_parsed() {
        for wire in [
            "testdevicetopic",
            "$oc/devices/d1",
            "$oc/devices/d1/",
            "$oc/devices//sys/messages/up",
            "$oc/devices/d1/sys/commands/abc",
            "$oc/devices/d1/sys/commands/response/abc",
            "$oc/devices/d1/sys/properties/set",
            "$oc/devices/d1/sys/messages/up?encoding=gzip",
            "$oc/devices/d1/sys/bootstrap/down",
            "$oc/devices/d1/sys/messages/down/extra",
            "$oc/bridges/b1/devices/d1/sys/messages/up",
            "/huawei/v1/devices/d1/data/json",
            "$OC/devices/d1/sys/messages/up",
        ] {
            assert_eq!(Topic::parse(wire), None, "{wire}");
        }
    }

    #[test]
    fn request_ids_look_like_uuids_v4() {
        let id = new_request_id();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(new_request_id(), id);
    }

    #[test]
    fn system_filters_are_the_six_of_section_1_9() {
        assert_eq!(
            system_filters("prod1_node1"),
            [
                "$oc/devices/prod1_node1/sys/messages/down",
                "$oc/devices/prod1_node1/sys/commands/#",
                "$oc/devices/prod1_node1/sys/properties/set/#",
                "$oc/devices/prod1_node1/sys/properties/get/#",
                "$oc/devices/prod1_node1/sys/shadow/get/response/#",
                "$oc/devices/prod1_node1/sys/events/down",
            ]
        );
    }

    fn any_kind() -> impl Strategy<Value = TopicKind> {
        // A request id containing the marker itself cannot round-trip (§2.8).
        (0..TopicKind::ALL.len(), ".*")
            .prop_filter("marker in the id", |(_, tail)| !tail.contains(REQUEST_ID))
            .prop_map(|(index, tail)| TopicKind::ALL[index](tail))
    }

    proptest! {
        #[test]
        fn parse_inverts_display(device_id in "[^/]+", kind in any_kind()) {
            let topic = Topic::new(device_id, kind);
            prop_assert_eq!(Topic::parse(&topic.to_string()), Some(topic));
        }

        #[test]
        fn parse_never_panics(text in ".*") {
            let _ = Topic::parse(&text);
        }

        #[test]
        fn parse_never_panics_under_the_prefix(path in "(sys/|user/|[a-z_=/])*") {
            if let Some(topic) = Topic::parse(&format!("$oc/devices/d/{path}")) {
                prop_assert_eq!(Topic::parse(&topic.to_string()), Some(topic));
            }
        }
    }
}
