//! The file formats of token import/export (docs/design.md §5), for the API and the CLI alike:
//! NDJSON (one JSON object per line) and CSV (a header line naming the columns, RFC 4180 quoting),
//! split into records as the bytes arrive so that memory holds one record, never the file.
//!
//! Token CSV columns ([`TOKEN_COLUMNS`]): the OCPI Token's fields, `energy_contract` as two
//! columns, and `extra`: a JSON object of any other top-level field, so that an export imported
//! again is the same document. Hub-policy lines ([`POLICY_COLUMNS`], the same names as NDJSON
//! keys) name a token (`country_code`, `party_id`, `uid`, `type`, default `RFID`) and its whole
//! policy as `PUT .../policy` takes it (an absent field is cleared).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::datetime::parse_ocpi_datetime;
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{TokenKey, TokenType, Whitelist};
use crate::domain::ValidationError;

use super::policy::PolicyChange;

/// How a file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Ndjson,
    Csv,
}

impl FileFormat {
    pub fn parse(field: &str, value: &str) -> Result<FileFormat, ValidationError> {
        match value.to_ascii_lowercase().as_str() {
            "ndjson" => Ok(FileFormat::Ndjson),
            "csv" => Ok(FileFormat::Csv),
            _ => Err(ValidationError::new(field, "must be ndjson or csv")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileFormat::Ndjson => "application/x-ndjson",
            FileFormat::Csv => "text/csv",
        }
    }
}

/// The columns of a token CSV, in the order an export writes them.
pub const TOKEN_COLUMNS: [&str; 16] = [
    "country_code",
    "party_id",
    "uid",
    "type",
    "contract_id",
    "visual_number",
    "issuer",
    "group_id",
    "valid",
    "whitelist",
    "language",
    "default_profile_type",
    "energy_contract_supplier_name",
    "energy_contract_id",
    "last_updated",
    "extra",
];

/// The columns (and NDJSON keys) of a hub-policy line.
pub const POLICY_COLUMNS: [&str; 10] = [
    "country_code",
    "party_id",
    "uid",
    "type",
    "blocked",
    "block_reason",
    "valid_from",
    "valid_until",
    "max_concurrent",
    "whitelist_override",
];

/// Splits bytes into records: NDJSON lines, or CSV records (a quoted field may hold line breaks,
/// so a record ends at a line break outside quotes). Each record comes with the number of the
/// line it starts on. Holds only the record not yet complete.
pub struct RecordSplitter {
    format: FileFormat,
    buffer: Vec<u8>,
    /// Lines fully read so far.
    lines: u64,
    max_record: usize,
}

impl RecordSplitter {
    /// `max_record`: the longest record accepted (bytes).
    pub fn new(format: FileFormat, max_record: usize) -> Self {
        RecordSplitter {
            format,
            buffer: Vec::new(),
            lines: 0,
            max_record,
        }
    }

    /// The records `chunk` completes; an error when a record is longer than allowed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, ValidationError> {
        self.buffer.extend_from_slice(chunk);
        let mut records = Vec::new();
        let mut start = 0;
        let mut scan = 0;
        let mut lines_in_record = 0;
        let mut quoted = false;
        while let Some(offset) = self.buffer[scan..]
            .iter()
            .position(|b| *b == b'\n' || (self.format == FileFormat::Csv && *b == b'"'))
        {
            let at = scan + offset;
            scan = at + 1;
            if self.buffer[at] == b'"' {
                quoted = !quoted;
                continue;
            }
            lines_in_record += 1;
            if quoted {
                continue;
            }
            let first = self.lines + 1;
            self.lines += lines_in_record;
            lines_in_record = 0;
            let mut record = self.buffer[start..at].to_vec();
            if record.last() == Some(&b'\r') {
                record.pop();
            }
            records.push((first, record));
            start = at + 1;
        }
        self.buffer.drain(..start);
        if self.buffer.len() > self.max_record {
            return Err(ValidationError::new(
                "body",
                format!(
                    "line {} is longer than {} bytes",
                    self.lines + 1,
                    self.max_record
                ),
            ));
        }
        Ok(records)
    }

    /// The last record, when the file does not end with a line break.
    pub fn finish(self) -> Option<(u64, Vec<u8>)> {
        (!self.buffer.is_empty()).then(|| (self.lines + 1, self.buffer))
    }
}

/// The fields of one CSV record.
pub fn csv_fields(record: &[u8]) -> Result<Vec<String>, ValidationError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(record);
    match reader.records().next() {
        Some(Ok(r)) => Ok(r.iter().map(str::to_owned).collect()),
        Some(Err(e)) => Err(ValidationError::new("", format!("not CSV: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// One CSV record of `fields`, with its line break.
pub fn csv_record<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(fields: I) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(fields);
    writer.into_inner().unwrap_or_default()
}

/// The columns a CSV header names, by position; an unknown or repeated column is an error.
pub struct CsvHeader {
    columns: HashMap<String, usize>,
}

impl CsvHeader {
    pub fn parse(
        record: &[u8],
        known: &[&str],
        required: &[&str],
    ) -> Result<Self, ValidationError> {
        let names = csv_fields(record)?;
        let mut columns = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let name = name.trim();
            if !known.contains(&name) {
                return Err(ValidationError::new(
                    "header",
                    format!("unknown column {name:?} (known: {})", known.join(", ")),
                ));
            }
            if columns.insert(name.to_owned(), i).is_some() {
                return Err(ValidationError::new(
                    "header",
                    format!("column {name:?} twice"),
                ));
            }
        }
        for name in required {
            if !columns.contains_key(*name) {
                return Err(ValidationError::new(
                    "header",
                    format!("the column {name:?} is required"),
                ));
            }
        }
        Ok(CsvHeader { columns })
    }

    /// The record's non-empty value of `column`.
    fn get<'a>(&self, fields: &'a [String], column: &str) -> Option<&'a str> {
        let i = *self.columns.get(column)?;
        fields.get(i).map(String::as_str).filter(|v| !v.is_empty())
    }
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A pushed token as a CSV record (in [`TOKEN_COLUMNS`] order).
pub fn token_to_csv(doc: &Map<String, Value>) -> Vec<u8> {
    let contract = doc.get("energy_contract");
    let mut extra = doc.clone();
    for column in TOKEN_COLUMNS {
        extra.remove(column);
    }
    extra.remove("energy_contract");
    let fields: Vec<String> = TOKEN_COLUMNS
        .iter()
        .map(|column| match *column {
            "energy_contract_supplier_name" => {
                text_of(contract.and_then(|c| c.get("supplier_name")))
            }
            "energy_contract_id" => text_of(contract.and_then(|c| c.get("contract_id"))),
            "extra" if extra.is_empty() => String::new(),
            "extra" => Value::Object(extra.clone()).to_string(),
            other => text_of(doc.get(other)),
        })
        .collect();
    csv_record(fields)
}

/// A CSV record as the Token document it stands for (validated afterwards as a PUT body).
pub fn token_from_csv(
    header: &CsvHeader,
    record: &[u8],
) -> Result<Map<String, Value>, ValidationError> {
    let fields = csv_fields(record)?;
    let mut doc = Map::new();
    for column in TOKEN_COLUMNS {
        let Some(value) = header.get(&fields, column) else {
            continue;
        };
        match column {
            "valid" => {
                let valid = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ValidationError::new("valid", "must be true or false")),
                };
                doc.insert("valid".into(), Value::Bool(valid));
            }
            "energy_contract_supplier_name" | "energy_contract_id" => {}
            "extra" => match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(fields)) => {
                    for (k, v) in fields {
                        if TOKEN_COLUMNS.contains(&k.as_str()) || k == "energy_contract" {
                            return Err(ValidationError::new(
                                "extra",
                                format!("{k:?} has a column of its own"),
                            ));
                        }
                        doc.insert(k, v);
                    }
                }
                _ => {
                    return Err(ValidationError::new(
                        "extra",
                        "must be a JSON object of the other fields",
                    ))
                }
            },
            other => {
                doc.insert(other.into(), Value::String(value.to_owned()));
            }
        }
    }
    if let Some(supplier) = header.get(&fields, "energy_contract_supplier_name") {
        let mut contract = Map::new();
        contract.insert("supplier_name".into(), Value::String(supplier.to_owned()));
        if let Some(id) = header.get(&fields, "energy_contract_id") {
            contract.insert("contract_id".into(), Value::String(id.to_owned()));
        }
        doc.insert("energy_contract".into(), Value::Object(contract));
    } else if header.get(&fields, "energy_contract_id").is_some() {
        return Err(ValidationError::new(
            "energy_contract_supplier_name",
            "is required with energy_contract_id",
        ));
    }
    Ok(doc)
}

/// A hub-policy line: which token, and its whole policy.
#[derive(Debug, Clone)]
pub struct PolicyLine {
    pub key: TokenKey,
    pub change: PolicyChange,
}

/// A hub-policy line from its fields by name (NDJSON keys or CSV columns); every error names the
/// field.
fn policy_line(get: impl Fn(&str) -> Option<Value>) -> Result<PolicyLine, ValidationError> {
    let text = |field: &str| -> Result<Option<String>, ValidationError> {
        match get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ValidationError::new(field, "must be a string")),
        }
    };
    let required = |field: &str| -> Result<String, ValidationError> {
        text(field)?.ok_or_else(|| ValidationError::new(field, "is required"))
    };
    let owner = PartyKey::parse(&required("country_code")?, &required("party_id")?)?;
    let key = TokenKey {
        owner,
        uid: TokenUid::parse("uid", &required("uid")?)?,
        token_type: TokenType::from_query(text("type")?.as_deref())?,
    };
    let blocked = match get("blocked") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) if s.is_empty() || s == "false" => false,
        Some(Value::String(s)) if s == "true" => true,
        Some(_) => return Err(ValidationError::new("blocked", "must be true or false")),
    };
    let at = |field: &str| -> Result<Option<DateTime<Utc>>, ValidationError> {
        text(field)?
            .map(|v| parse_ocpi_datetime(field, &v))
            .transpose()
    };
    let max_concurrent = match get("max_concurrent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s),
        Some(_) => None,
    }
    .map(|v| {
        v.parse::<u32>()
            .map_err(|_| ValidationError::new("max_concurrent", "must be a whole number ≥ 0"))
    })
    .transpose()?;
    let whitelist_override = text("whitelist_override")?
        .map(|w| {
            Whitelist::from_db(&w).ok_or_else(|| {
                ValidationError::new(
                    "whitelist_override",
                    "must be ALWAYS, ALLOWED, ALLOWED_OFFLINE or NEVER",
                )
            })
        })
        .transpose()?;
    let change = PolicyChange {
        blocked,
        block_reason: text("block_reason")?,
        valid_from: at("valid_from")?,
        valid_until: at("valid_until")?,
        max_concurrent,
        whitelist_override,
    };
    change.validate()?;
    Ok(PolicyLine { key, change })
}

/// A hub-policy NDJSON line (an object with [`POLICY_COLUMNS`] keys).
pub fn policy_from_json(line: &[u8]) -> Result<PolicyLine, ValidationError> {
    let map = match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ValidationError::new("", "a line must be a JSON object")),
        Err(e) => return Err(ValidationError::new("", format!("not JSON: {e}"))),
    };
    if let Some(unknown) = map.keys().find(|k| !POLICY_COLUMNS.contains(&k.as_str())) {
        return Err(ValidationError::new(
            unknown.as_str(),
            format!("unknown field (known: {})", POLICY_COLUMNS.join(", ")),
        ));
    }
    policy_line(|field| map.get(field).cloned())
}

/// A hub-policy CSV record.
pub fn policy_from_csv(header: &CsvHeader, record: &[u8]) -> Result<PolicyLine, ValidationError> {
    let fields = csv_fields(record)?;
    policy_line(|field| {
        header
            .get(&fields, field)
            .map(|v| Value::String(v.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(format: FileFormat, chunks: &[&str]) -> Vec<(u64, String)> {
        let mut splitter = RecordSplitter::new(format, 1000);
        let mut out = Vec::new();
        for chunk in chunks {
            for (n, r) in splitter.push(chunk.as_bytes()).unwrap() {
                out.push((n, String::from_utf8(r).unwrap()));
            }
        }
        if let Some((n, r)) = splitter.finish() {
            out.push((n, String::from_utf8(r).unwrap()));
        }
        out
    }

    /// Records across chunk borders, CRLF, a quoted line break (one record, two lines).
    #[test]
    fn records_are_split_with_their_line_numbers() {
        assert_eq!(
            split(FileFormat::Ndjson, &["{\"a\":1}\n{\"b\"", ":2}\r\n\n{}"]),
            [
                (1, "{\"a\":1}".into()),
                (2, "{\"b\":2}".into()),
                (3, String::new()),
                (4, "{}".into())
            ]
        );
        assert_eq!(
            split(FileFormat::Csv, &["a,b\n\"x\n", "y\",1\nz,2\n"]),
            [
                (1, "a,b".into()),
                (2, "\"x\ny\",1".into()),
                (4, "z,2".into())
            ]
        );
        let mut small = RecordSplitter::new(FileFormat::Ndjson, 4);
        assert_eq!(small.push(b"123456").unwrap_err().field, "body");
    }

    /// Export and import of a token with every column and an unknown field: the same document.
    #[test]
    fn a_token_round_trips_through_csv() {
        let doc = json!({
            "country_code": "NL", "party_id": "ABC", "uid": "U1", "type": "RFID",
            "contract_id": "NL-ABC-1", "issuer": "Iss, \"quoted\"", "group_id": "G",
            "valid": true, "whitelist": "ALLOWED", "language": "nl",
            "energy_contract": {"supplier_name": "S", "contract_id": "C"},
            "last_updated": "2026-01-01T00:00:00Z", "x_extension": {"kept": [1, 2]},
        });
        let doc = doc.as_object().unwrap().clone();
        let header = CsvHeader::parse(&csv_record(TOKEN_COLUMNS), &TOKEN_COLUMNS, &[]).unwrap();
        let record = token_to_csv(&doc);
        let back = token_from_csv(&header, &record[..record.len() - 1]).unwrap();
        assert_eq!(back, doc);
    }

    /// (line, field named by the error)
    #[test]
    fn bad_lines_name_their_field() {
        let header = CsvHeader::parse(b"uid,valid,extra", &TOKEN_COLUMNS, &[]).unwrap();
        for (line, field) in [
            ("U,maybe,", "valid"),
            ("U,true,[1]", "extra"),
            ("U,true,\"{\"\"uid\"\":1}\"", "extra"),
        ] {
            assert_eq!(
                token_from_csv(&header, line.as_bytes()).unwrap_err().field,
                field,
                "{line}"
            );
        }
        assert_eq!(
            CsvHeader::parse(b"uid,colour", &TOKEN_COLUMNS, &[])
                .err()
                .unwrap()
                .field,
            "header"
        );
        for (line, field) in [
            (r#"{"party_id":"ABC","uid":"U"}"#, "country_code"),
            (
                r#"{"country_code":"NL","party_id":"ABC","uid":"U","blocked":true}"#,
                "block_reason",
            ),
            (
                r#"{"country_code":"NL","party_id":"ABC","uid":"U","max_concurrent":"-1"}"#,
                "max_concurrent",
            ),
            (
                r#"{"country_code":"NL","party_id":"ABC","uid":"U","colour":1}"#,
                "colour",
            ),
            (
                r#"{"country_code":"NL","party_id":"ABC","uid":"U","valid_until":"soon"}"#,
                "valid_until",
            ),
        ] {
            assert_eq!(
                policy_from_json(line.as_bytes()).unwrap_err().field,
                field,
                "{line}"
            );
        }
        let header = CsvHeader::parse(
            b"country_code,party_id,uid,blocked,block_reason,max_concurrent",
            &POLICY_COLUMNS,
            &[],
        )
        .unwrap();
        let line = policy_from_csv(&header, b"NL,ABC,u1,true,lost,2").unwrap();
        assert!(line.change.blocked);
        assert_eq!(line.change.max_concurrent, Some(2));
        assert_eq!(line.key.token_type.as_str(), "RFID");
    }
}
