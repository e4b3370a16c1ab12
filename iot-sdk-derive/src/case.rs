//! The default names: Rust's snake_case and UpperCamelCase identifiers
//! become the lowerCamelCase names IoTDA product models use.

/// `smoke_concentration` -> `smokeConcentration`, `SmokeDetector` ->
/// `smokeDetector`, `HTTPServer` -> `httpServer`.
pub(crate) fn lower_camel_case(ident: &str) -> String {
    lower_leading_capitals(&snake_to_camel(ident))
}

/// Drops the underscores and capitalises the letter after each one;
/// leading and trailing underscores vanish.
fn snake_to_camel(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len());
    let mut capitalize = false;
    for c in ident.chars() {
        if c == '_' {
            capitalize = !out.is_empty();
        } else if capitalize {
            out.extend(c.to_uppercase());
            capitalize = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Lowercases the leading run of capitals, except the last one when a
/// lowercase letter follows it: it starts the next word (`HTTPServer`).
fn lower_leading_capitals(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let run = chars.iter().take_while(|c| c.is_uppercase()).count();
    let next_is_lower = chars.get(run).is_some_and(|c| c.is_lowercase());
    let lower = if run > 1 && next_is_lower {
        run - 1
    } else {
        run
    };
    let mut out = String::with_capacity(camel.len());
    for (i, c) in chars.into_iter().enumerate() {
        if i < lower {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::lower_camel_case;

    #[test]
    fn snake_case_fields() {
        assert_eq!(
            lower_camel_case("smoke_concentration"),
            "smokeConcentration"
        );
        assert_eq!(lower_camel_case("humidity"), "humidity");
        assert_eq!(lower_camel_case("ring_alarm_now"), "ringAlarmNow");
        assert_eq!(lower_camel_case("_private__field_"), "privateField");
        assert_eq!(lower_camel_case("sensor_2"), "sensor2");
    }

    #[test]
    fn camel_case_types() {
        assert_eq!(lower_camel_case("SmokeDetector"), "smokeDetector");
        assert_eq!(lower_camel_case("HTTPServer"), "httpServer");
        assert_eq!(lower_camel_case("IOStatus"), "ioStatus");
        assert_eq!(lower_camel_case("GPS"), "gps");
        assert_eq!(lower_camel_case("Sensor2"), "sensor2");
        assert_eq!(lower_camel_case("alreadyCamel"), "alreadyCamel");
    }
}
