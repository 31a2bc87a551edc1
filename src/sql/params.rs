//! SQL parameters: named DataFusion placeholders (`$day`, `$top`, `$region`) bound as typed
//! values with [`DataFrame::with_param_values`], never pasted into the SQL text. Reports and
//! exports (also a job's) bind theirs here.
//!
//! A value arrives as text. Its type is the one DataFusion infers for the placeholder
//! (`cst_date = $day` makes `$day` a DATE); where nothing is inferred, `day` and `compare`
//! are DATEs, `top` a BIGINT, and anything else text (write `CAST($x AS …)` in the SQL).

use std::collections::{BTreeMap, HashMap};

use arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::prelude::DataFrame;

use crate::error::{Error, Result};

/// Defaults of the built-in reports' optional parameters.
pub const DEFAULTS: [(&str, &str); 3] = [
    ("top", "10"),
    ("gmv_unit", "1000000000"),
    ("order_unit", "1000000"),
];

/// Parses `--param key=value`.
pub fn parse_kv(text: &str) -> Result<(String, String)> {
    let Some((k, v)) = text.split_once('=') else {
        return Err(Error::Usage(format!(
            "--param {text:?}: expected NAME=VALUE"
        )));
    };
    let k = k.trim();
    if !valid_name(k) {
        return Err(bad_name(text));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Checks a parameter given as a name and a value (a job file's `params`); the error shows
/// the pair as `--param NAME=VALUE`.
pub fn check_name(name: &str, value: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(bad_name(&format!("{name}={value}")))
    }
}

/// Letters, digits and `_`, not starting with a digit.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

fn bad_name(text: &str) -> Error {
    Error::Usage(format!(
        "--param {text:?}: the name must be letters, digits and _ (not starting with a digit)"
    ))
}

/// How to pass a parameter on the command line, for error messages.
pub fn hint(name: &str) -> String {
    match name {
        "day" => "--day YYYY-MM-DD".into(),
        "compare" => "--compare YYYY-MM-DD".into(),
        "top" => "--top N".into(),
        _ => format!("--param {name}=VALUE"),
    }
}

fn default_type(name: &str) -> DataType {
    match name {
        "day" | "compare" => DataType::Date32,
        "top" => DataType::Int64,
        _ => DataType::Utf8,
    }
}

/// The parameter names (without `$`) a planned query uses, sorted.
pub fn used(frame: &DataFrame) -> Result<Vec<String>> {
    let mut names: Vec<String> = frame
        .logical_plan()
        .get_parameter_names()?
        .into_iter()
        .map(|id| id.trim_start_matches('$').to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// Binds every placeholder of `frame` from `values`; `file` names the query in errors.
pub fn bind(frame: DataFrame, values: &BTreeMap<String, String>, file: &str) -> Result<DataFrame> {
    let types = frame.logical_plan().get_parameter_types()?;
    if types.is_empty() {
        return Ok(frame);
    }
    let mut bound: HashMap<String, ScalarValue> = HashMap::new();
    let mut ids: Vec<&String> = types.keys().collect();
    ids.sort();
    for id in ids {
        let name = id.trim_start_matches('$');
        if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::Usage(format!(
                "{file}: positional parameter {id}; report parameters are named ($day, $top, …)"
            )));
        }
        let Some(text) = values.get(name) else {
            return Err(Error::Usage(format!(
                "{file} needs parameter ${name}: pass {}",
                hint(name)
            )));
        };
        let ty = types[id].clone().unwrap_or_else(|| default_type(name));
        let value = ScalarValue::try_from_string(text.clone(), &ty)
            .ok()
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{file}: parameter ${name} = {text:?} is not a valid {ty}"
                ))
            })?;
        bound.insert(name.to_string(), value);
    }
    Ok(frame.with_param_values(ParamValues::from(bound))?)
}
