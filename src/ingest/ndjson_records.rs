//! NDJSON lines to raw field values.
//!
//! `serde_json` is strict (no trailing commas, NaN or Infinity, no duplicate keys here) and
//! hands each known field over as raw JSON text, so numbers keep their literal digits: an
//! amount of `12.10` stays exact and an id above 2^53 is not rounded through a float.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ingest::validate::{RawEvent, Reject, RejectKind, Value};

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
    use crate::ingest::validate::f;

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
