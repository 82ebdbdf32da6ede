//! What commands print on stdout: pretty JSON for scripts (`--json`), or an aligned
//! table for people. Every list command goes through here, so they all look alike.

use anyhow::Result;
use serde::Serialize;
use std::time::{Duration, UNIX_EPOCH};

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `items` as JSON when `json` is set, else as the table `table` makes of them.
pub fn print_list<T: Serialize, const N: usize>(
    json: bool,
    items: &[T],
    table: impl FnOnce(&[T]) -> Table<N>,
) -> Result<()> {
    if json {
        print_json(items)
    } else {
        print!("{}", table(items).render());
        Ok(())
    }
}

/// A table of text with a header row and `N` columns, printed left-aligned.
pub struct Table<const N: usize> {
    rows: Vec<[String; N]>,
}

/// Spaces between two columns.
const GAP: usize = 2;

impl<const N: usize> Table<N> {
    /// A table with these column titles.
    pub fn new(header: [&str; N]) -> Self {
        Table {
            rows: vec![header.map(str::to_string)],
        }
    }

    /// Appends one row.
    pub fn row(&mut self, cells: [String; N]) {
        self.rows.push(cells);
    }

    /// Every row on its own line, each column as wide as its widest cell.
    pub fn render(&self) -> String {
        let mut widths = [0usize; N];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < N {
                    let pad = widths[i] - cell.chars().count() + GAP;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Unix seconds as an RFC 3339 UTC time, for a table cell.
pub fn timestamp(unix: i64) -> String {
    match u64::try_from(unix) {
        Ok(secs) => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        }
        Err(_) => "-".into(),
    }
}

/// A table cell for a value that may be missing.
pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(["NAME", "CHANNELS"]);
        t.row(["acme-long-name".into(), "stable=1.0.0".into()]);
        t.row(["x".into(), String::new()]);
        assert_eq!(
            t.render(),
            "NAME            CHANNELS\nacme-long-name  stable=1.0.0\nx\n"
        );
    }

    #[test]
    fn width_counts_characters_not_bytes() {
        let mut t = Table::new(["A", "B"]);
        t.row(["Société".into(), "1".into()]);
        assert_eq!(t.render(), "A        B\nSociété  1\n");
    }

    #[test]
    fn an_empty_list_prints_only_the_header() {
        assert_eq!(Table::new(["ID", "STATE"]).render(), "ID  STATE\n");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(timestamp(-1), "-");
    }
}
