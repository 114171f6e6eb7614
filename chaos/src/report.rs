//! The table the fault script prints: one row per fault, its figures, and whether the
//! expectation held.

pub struct Row {
    pub fault: &'static str,
    pub expected: &'static str,
    pub figures: String,
    pub pass: bool,
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| fault | expected | figures | result |\n|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.fault,
            row.expected,
            row.figures,
            if row.pass { "pass" } else { "FAIL" }
        ));
    }
    out
}
