//! Tables of documents as Hugging Face `datasets` loads them from local files: JSON
//! Lines, a JSON array, CSV (columns typed as pandas types them) and Parquet (a Hub
//! snapshot's format). Every document is a JSON object; keys keep the file's order.

use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Number, Value as Json};

use crate::DataError;

/// One document and where it is: the line of a JSONL or CSV file, the element of a JSON
/// array or the row of a Parquet file (all counted from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub at: usize,
    pub doc: Json,
}

/// The formats [`read_records`] reads, by file extension.
pub const RECORD_EXTENSIONS: [&str; 5] = ["jsonl", "ndjson", "json", "csv", "parquet"];

/// Reads every document of `path`, choosing the reader by its extension.
pub fn read_records(path: &Path) -> Result<Vec<Record>, DataError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let records = match ext.as_str() {
        "jsonl" | "ndjson" => read_json_lines(path)?,
        "json" => read_json(path)?,
        "csv" => read_csv(path)?,
        "parquet" => read_parquet_rows(path)?,
        _ => {
            return Err(DataError::file(
                path,
                format!(
                    "unknown data format `.{ext}` (one of .{})",
                    RECORD_EXTENSIONS.join(", .")
                ),
            ))
        }
    };
    if records.is_empty() {
        return Err(DataError::file(path, "no documents"));
    }
    Ok(records)
}

fn object_at(path: &Path, at: usize, doc: Json, unit: &str) -> Result<Record, DataError> {
    if !doc.is_object() {
        let message = "a document must be a JSON object".to_string();
        return Err(if unit == "line" {
            DataError::Line {
                path: path.into(),
                line: at,
                message,
            }
        } else {
            DataError::file(path, format!("{unit} {at}: {message}"))
        });
    }
    Ok(Record { at, doc })
}

fn read_json_lines(path: &Path) -> Result<Vec<Record>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| DataError::Line {
            path: path.into(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let doc: Json = serde_json::from_str(&line).map_err(|e| DataError::Line {
            path: path.into(),
            line: i + 1,
            message: format!("not valid JSON: {e}"),
        })?;
        out.push(object_at(path, i + 1, doc, "line")?);
    }
    Ok(out)
}

/// A JSON array of objects, or (as `datasets` also accepts under `.json`) JSON Lines.
fn read_json(path: &Path) -> Result<Vec<Record>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    if !text.trim_start().starts_with('[') {
        return read_json_lines(path);
    }
    let docs: Vec<Json> = serde_json::from_str(&text).map_err(|e| DataError::Line {
        path: path.into(),
        line: e.line(),
        message: format!("not valid JSON: {e}"),
    })?;
    docs.into_iter()
        .enumerate()
        .map(|(i, d)| object_at(path, i + 1, d, "element"))
        .collect()
}

/// A CSV cell as pandas' `read_csv` types it when its whole column agrees: integers,
/// then floats, then booleans (`True`/`False`), else strings; an empty cell is null.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum ColumnType {
    Int,
    Float,
    Bool,
    Text,
}

fn cell_type(s: &str) -> Option<ColumnType> {
    if s.is_empty() {
        return None;
    }
    if s.parse::<i64>().is_ok() {
        return Some(ColumnType::Int);
    }
    if s.parse::<f64>().is_ok() {
        return Some(ColumnType::Float);
    }
    if matches!(s, "True" | "False" | "TRUE" | "FALSE" | "true" | "false") {
        return Some(ColumnType::Bool);
    }
    Some(ColumnType::Text)
}

fn merge_types(a: Option<ColumnType>, b: Option<ColumnType>) -> Option<ColumnType> {
    use ColumnType::*;
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(Int), Some(Float)) | (Some(Float), Some(Int)) => Some(Float),
        _ => Some(Text),
    }
}

fn typed_cell(s: &str, t: Option<ColumnType>) -> Json {
    if s.is_empty() && t != Some(ColumnType::Text) {
        return Json::Null;
    }
    match t {
        Some(ColumnType::Int) => s.parse::<i64>().map_or(Json::Null, Json::from),
        Some(ColumnType::Float) => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Json::Null, Json::Number),
        Some(ColumnType::Bool) => Json::Bool(s.eq_ignore_ascii_case("true")),
        _ => Json::String(s.to_string()),
    }
}

fn read_csv(path: &Path) -> Result<Vec<Record>, DataError> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| DataError::file(path, e.to_string()))?;
    let csv_error = |e: csv::Error| match e.position() {
        Some(p) => DataError::Line {
            path: path.into(),
            line: p.line() as usize,
            message: e.to_string(),
        },
        None => DataError::file(path, e.to_string()),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
        let line = row.position().map_or(0, |p| p.line() as usize);
        rows.push((line, row));
    }
    let mut types = vec![None; header.len()];
    for (_, row) in &rows {
        for (t, cell) in types.iter_mut().zip(row.iter()) {
            *t = merge_types(*t, cell_type(cell));
        }
    }
    Ok(rows
        .into_iter()
        .map(|(line, row)| {
            let doc: Map<String, Json> = header
                .iter()
                .zip(&types)
                .zip(row.iter())
                .map(|((name, t), cell)| (name.clone(), typed_cell(cell, *t)))
                .collect();
            Record {
                at: line,
                doc: Json::Object(doc),
            }
        })
        .collect())
}

fn parquet_field(f: &parquet::record::Field) -> Json {
    use parquet::record::Field;
    match f {
        Field::Null => Json::Null,
        Field::Bool(b) => Json::Bool(*b),
        Field::Byte(x) => Json::from(*x),
        Field::Short(x) => Json::from(*x),
        Field::Int(x) => Json::from(*x),
        Field::Long(x) => Json::from(*x),
        Field::UByte(x) => Json::from(*x),
        Field::UShort(x) => Json::from(*x),
        Field::UInt(x) => Json::from(*x),
        Field::ULong(x) => Json::from(*x),
        Field::Float(x) => Number::from_f64(*x as f64).map_or(Json::Null, Json::Number),
        Field::Double(x) => Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Field::Str(s) => Json::String(s.clone()),
        Field::Group(row) => Json::Object(
            row.get_column_iter()
                .map(|(k, v)| (k.clone(), parquet_field(v)))
                .collect(),
        ),
        Field::ListInternal(list) => {
            Json::Array(list.elements().iter().map(parquet_field).collect())
        }
        Field::MapInternal(map) => Json::Object(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match parquet_field(k) {
                        Json::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, parquet_field(v))
                })
                .collect(),
        ),
        other => Json::String(other.to_string()),
    }
}

fn read_parquet_rows(path: &Path) -> Result<Vec<Record>, DataError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = SerializedFileReader::new(f)
        .map_err(|e| DataError::file(path, format!("not a readable Parquet file: {e}")))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| DataError::file(path, e.to_string()))?;
    let mut out = Vec::new();
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| DataError::file(path, format!("row {}: {e}", i + 1)))?;
        let doc: Map<String, Json> = row
            .get_column_iter()
            .map(|(k, v)| (k.clone(), parquet_field(v)))
            .collect();
        out.push(Record {
            at: i + 1,
            doc: Json::Object(doc),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_format_reads_to_the_same_documents() {
        let dir = tempfile::tempdir().unwrap();
        let want = vec![
            json!({"q": "Where, then?", "n": 3, "x": 0.5, "ok": true}),
            json!({"q": "1 \"quoted\"", "n": 4, "x": 2.0, "ok": false}),
        ];
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, format!("{}\n\n{}\n", want[0], want[1])).unwrap();
        let jsonl = read_records(&p).unwrap();
        assert_eq!(
            jsonl[1].at, 3,
            "blank lines are skipped, lines still counted"
        );
        let p = dir.path().join("a.json");
        std::fs::write(&p, serde_json::to_string_pretty(&want).unwrap()).unwrap();
        let array = read_records(&p).unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(
            &p,
            "q,n,x,ok\n\"Where, then?\",3,0.5,True\n\"1 \"\"quoted\"\"\",4,2,False\n",
        )
        .unwrap();
        let csv = read_records(&p).unwrap();
        let p = dir.path().join("a.parquet");
        write_parquet(&p, &want);
        let parquet = read_records(&p).unwrap();
        for got in [&jsonl, &array, &csv, &parquet] {
            let docs: Vec<&Json> = got.iter().map(|r| &r.doc).collect();
            assert_eq!(docs, want.iter().collect::<Vec<_>>());
        }
        let keys: Vec<&String> = csv[0].doc.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["q", "n", "x", "ok"],
            "the file's column order is kept"
        );
    }

    /// The documents as a Parquet file with string, int64, double and boolean columns.
    fn write_parquet(path: &Path, docs: &[Json]) {
        use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
        use parquet::file::writer::SerializedFileWriter;
        let schema = parquet::schema::parser::parse_message_type(
            "message doc { REQUIRED BYTE_ARRAY q (UTF8); REQUIRED INT64 n; \
             REQUIRED DOUBLE x; REQUIRED BOOLEAN ok; }",
        )
        .unwrap();
        let file = std::fs::File::create(path).unwrap();
        let mut w = SerializedFileWriter::new(file, schema.into(), Default::default()).unwrap();
        let mut rg = w.next_row_group().unwrap();
        let col = |k: &str| docs.iter().map(|d| d[k].clone()).collect::<Vec<Json>>();
        let mut c = rg.next_column().unwrap().unwrap();
        let qs: Vec<ByteArray> = col("q")
            .iter()
            .map(|v| ByteArray::from(v.as_str().unwrap()))
            .collect();
        c.typed::<ByteArrayType>()
            .write_batch(&qs, None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        let ns: Vec<i64> = col("n").iter().map(|v| v.as_i64().unwrap()).collect();
        c.typed::<Int64Type>().write_batch(&ns, None, None).unwrap();
        c.close().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        let xs: Vec<f64> = col("x").iter().map(|v| v.as_f64().unwrap()).collect();
        c.typed::<DoubleType>()
            .write_batch(&xs, None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        let oks: Vec<bool> = col("ok").iter().map(|v| v.as_bool().unwrap()).collect();
        c.typed::<BoolType>().write_batch(&oks, None, None).unwrap();
        c.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
    }

    #[test]
    fn bad_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "b.jsonl",
                "{\"a\": 1}\n{oops\n",
                "b.jsonl:2: not valid JSON",
            ),
            (
                "b.jsonl",
                "[1, 2]\n",
                "b.jsonl:1: a document must be a JSON object",
            ),
            ("b.json", "[{\"a\": 1}, 3]", "element 2: a document must be"),
            ("b.csv", "a,b\n1,2\n3\n", "b.csv:3"),
            ("b.parquet", "not parquet", "not a readable Parquet file"),
            ("b.xlsx", "", "unknown data format `.xlsx`"),
            ("b.jsonl", "\n\n", "no documents"),
        ];
        for (name, body, want) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            let e = read_records(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e} lacks {want}");
        }
    }
}
