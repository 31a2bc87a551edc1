//! NDJSON lines to raw field values.
//!
//! `serde_json` is strict (no trailing commas, NaN or Infinity, no duplicate keys here) and
//! hands each known field over as raw JSON text, so numbers keep their literal digits: an
//! amount of `12.10` stays exact and an id above 2^53 is not rounded through a float.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ingest::read::validate::{RawEvent, Reject, RejectKind, Value};

#[derive(Deserialize)]
struct JsonEvent<'a> {
    #[serde(borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    order_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    platform: Option<&'a RawValue>,
    #[serde(borrow, default)]
    amount: Option<&'a RawValue>,
    #[serde(borrow, default)]
    currency: Option<&'a RawValue>,
    #[serde(borrow, default)]
    buyer_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    seller_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    category: Option<&'a RawValue>,
    #[serde(borrow, default)]
    province: Option<&'a RawValue>,
    #[serde(borrow, default)]
    device: Option<&'a RawValue>,
    #[serde(borrow, default)]
    quantity: Option<&'a RawValue>,
}

/// Parses one non-blank NDJSON line into the contract's fields.
pub fn parse_line(line: &str) -> Result<RawEvent<'_>, Reject> {
    // serde would also read a JSON array into the struct, by position: only objects are events.
    if !line.trim_start().starts_with('{') {
        return Err(Reject::new(
            RejectKind::InvalidJson,
            "invalid JSON: an event must be a JSON object",
        ));
    }
    let e: JsonEvent<'_> = serde_json::from_str(line)
        .map_err(|err| Reject::new(RejectKind::InvalidJson, format!("invalid JSON: {err}")))?;
    Ok([
        value(e.event_id)?,
        value(e.event_time)?,
        value(e.event_type)?,
        value(e.order_id)?,
        value(e.platform)?,
        value(e.amount)?,
        value(e.currency)?,
        value(e.buyer_id)?,
        value(e.seller_id)?,
        value(e.category)?,
        value(e.province)?,
        value(e.device)?,
        value(e.quantity)?,
    ])
}

/// Parses one non-blank NDJSON line whose keys are named by `keys` (a job's column mapping),
/// in the order of `schema::INPUT_FIELDS`. Slower than [`parse_line`], which knows the
/// contract's names at compile time; just as strict (a repeated key is invalid JSON).
pub fn parse_line_with_keys<'a>(
    line: &'a str,
    keys: &[String; 13],
) -> Result<RawEvent<'a>, Reject> {
    if !line.trim_start().starts_with('{') {
        return Err(Reject::new(
            RejectKind::InvalidJson,
            "invalid JSON: an event must be a JSON object",
        ));
    }
    let Entries(entries) = serde_json::from_str(line)
        .map_err(|err| Reject::new(RejectKind::InvalidJson, format!("invalid JSON: {err}")))?;
    let mut found: [Option<&RawValue>; 13] = [None; 13];
    for (key, raw) in entries {
        if let Some(i) = keys.iter().position(|k| *k == key) {
            if found[i].replace(raw).is_some() {
                return Err(Reject::new(
                    RejectKind::InvalidJson,
                    format!("invalid JSON: duplicate key `{key}`"),
                ));
            }
        }
    }
    let mut out: RawEvent<'a> = std::array::from_fn(|_| Value::Absent);
    for (slot, raw) in out.iter_mut().zip(found) {
        *slot = value(raw)?;
    }
    Ok(out)
}

/// The members of a JSON object in order, values kept as raw text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Entries(members))
            }
        }
        d.deserialize_map(Members)
    }
}

/// Classifies a raw JSON value; an empty string counts as absent, as an empty CSV field does.
fn value(raw: Option<&RawValue>) -> Result<Value<'_>, Reject> {
    let Some(raw) = raw else {
        return Ok(Value::Absent);
    };
    let text = raw.get();
    Ok(match text.as_bytes().first() {
        Some(b'"') => {
            let s: Cow<'_, str> = match serde_json::from_str::<&str>(text) {
                Ok(s) => Cow::Borrowed(s),
                // Escapes need an owned, unescaped copy.
                Err(_) => Cow::Owned(serde_json::from_str::<String>(text).map_err(|err| {
                    Reject::new(
                        RejectKind::InvalidJson,
                        format!("invalid JSON string: {err}"),
                    )
                })?),
            };
            if s.is_empty() {
                Value::Absent
            } else {
                Value::Text(s)
            }
        }
        Some(b'n') => Value::Absent,
        Some(b'-' | b'0'..=b'9') => Value::Number(text),
        Some(b't' | b'f') => Value::Other("a boolean"),
        Some(b'[') => Value::Other("an array"),
        _ => Value::Other("an object"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::read::validate::f;

    #[test]
    fn numbers_keep_their_text() {
        let raw = parse_line(
            r#"{"event_id":"a\"b","amount":12.10,"buyer_id":18446744073709551615,"x":[1,2],"currency":null,"category":""}"#,
        )
        .expect("valid JSON");
        assert_eq!(raw[f::EVENT_ID], Value::Text(Cow::Owned("a\"b".into())));
        assert_eq!(raw[f::AMOUNT], Value::Number("12.10"));
        assert_eq!(raw[f::BUYER_ID], Value::Number("18446744073709551615"));
        assert_eq!(raw[f::CURRENCY], Value::Absent);
        assert_eq!(raw[f::CATEGORY], Value::Absent);
    }

    #[test]
    fn renamed_keys_read_like_the_contract_names() {
        let mut keys = crate::schema::INPUT_FIELDS.map(str::to_string);
        keys[f::EVENT_TIME] = "ts".into();
        keys[f::AMOUNT] = "amt".into();
        let line =
            r#"{"event_id":"e1","ts":"2019-11-11T00:00:00+08:00","amt":12.10,"amount":"ignored"}"#;
        let raw = parse_line_with_keys(line, &keys).expect("valid");
        assert_eq!(raw[f::AMOUNT], Value::Number("12.10"));
        assert_eq!(
            raw[f::EVENT_TIME],
            Value::Text(Cow::Borrowed("2019-11-11T00:00:00+08:00"))
        );
        assert_eq!(raw[f::EVENT_ID], Value::Text(Cow::Borrowed("e1")));
        for bad in [
            r#"{"ts":"a","ts":"b"}"#,
            r#"{"amt":1,}"#,
            "[1]",
            r#"{"amt":NaN}"#,
        ] {
            let r = parse_line_with_keys(bad, &keys).expect_err(bad);
            assert_eq!(r.kind, RejectKind::InvalidJson, "{bad}");
        }
    }

    #[test]
    fn json_is_strict() {
        for bad in [
            r#"{"event_id":"a",}"#,
            r#"{"amount":NaN}"#,
            r#"{"amount":Infinity}"#,
            r#"{"event_id":"a""#,
            r#"{"event_id":"a","event_id":"b"}"#,
            r#"[1,2]"#,
            r#"{"event_id":"a"} x"#,
            "'single'",
        ] {
            let r = parse_line(bad).expect_err(bad);
            assert_eq!(r.kind, RejectKind::InvalidJson, "{bad}");
        }
    }
}
