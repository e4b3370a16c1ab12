//! Whose topics a topic or filter is in: the ground of the platform's
//! rule that a device uses only its own topics (a gateway also its
//! children's).

/// Whose `$oc/devices/{device_id}` subtree a topic or filter is in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Owner<'a> {
    /// The device id, without wildcards.
    Device(&'a str),
    /// Outside every device's subtree, or a wildcard in the device id.
    Other,
}

/// The device whose subtree `filter` (or topic) is in: `$oc/devices/d1`,
/// `$oc/devices/d1/#`, `$oc/devices/d1/sys/+/x` belong to `d1`;
/// `#`, `$oc/#`, `$oc/devices/+/…` to nobody.
pub(crate) fn filter_owner(filter: &str) -> Owner<'_> {
    let Some(rest) = filter.strip_prefix("$oc/devices/") else {
        return Owner::Other;
    };
    let id = rest.split('/').next().unwrap_or_default();
    if id.is_empty() || id.contains(['+', '#']) {
        return Owner::Other;
    }
    Owner::Device(id)
}

/// Whether `topic` names something below its owner's `$oc/devices/{id}`
/// (that topic itself is no uplink: something must follow).
pub(crate) fn is_below_owner(topic: &str) -> bool {
    match filter_owner(topic) {
        Owner::Device(id) => topic.len() > "$oc/devices/".len() + id.len(),
        Owner::Other => false,
    }
}
