//! `provhost bench --only load`, short, through the binary and a real component: every level is
//! answered without errors and carried out to its last action, so each gives a sustained figure;
//! on the test PostgreSQL server too, with one and with two `provhost serve` processes. The
//! figures themselves are measurements, not tested here.

mod support;

use support::{Demo, repo, stderr};

/// The header and the rows of the Markdown table whose header holds `header`, as cells.
fn table(report: &str, header: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = report.lines().skip_while(|l| !l.starts_with('|') || !l.contains(header));
    let columns: Vec<String> = cells(lines.next().unwrap_or_else(|| panic!("no table with {header}:\n{report}")));
    let rows = lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(cells)
        .inspect(|row| assert_eq!(row.len(), columns.len(), "{row:?} against {columns:?}"))
        .collect();
    (columns, rows)
}

fn cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split('|').map(|c| c.trim().to_owned()).collect()
}

/// Runs the load bench for a moment per level on `demo`'s store.
fn bench(demo: &Demo) -> String {
    support::plugin("propagate-mail");
    let plugins = repo().join("plugins/target");
    let event = repo().join("examples/events/mail-changed.json");
    let out = demo.provhost(&[
        "bench",
        "--only",
        "load",
        "--load-seconds",
        "0.3",
        "--plugins",
        plugins.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "bench failed: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The cell of `row` in the column named `name` of `header`, as a number.
fn figure(header: &[String], row: &[String], name: &str) -> f64 {
    let at = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    row[at].parse().unwrap_or_else(|_| panic!("{name} is not a figure in {row:?}"))
}

/// Every row answered without errors, with the actions left counted, and every level's actions
/// carried out: a sustained figure, never above the events answered per second. Actions are
/// carried out during some level (a level of a moment may end before the executor ends any), and
/// some level leaves some to the wait after it.
fn all_carried_out(header: &[String], rows: &[Vec<String>]) {
    assert!(rows.iter().any(|row| figure(header, row, "actions executed/s") > 0.0), "{rows:?}");
    // Some level ends with work left (64 events of a moment plan more than a batch), which the
    // wait after it then carries out.
    assert!(rows.iter().any(|row| figure(header, row, "actions left to carry out") > 0.0), "{rows:?}");
    for row in rows {
        assert_eq!(figure(header, row, "errors"), 0.0, "{row:?}");
        figure(header, row, "actions left to carry out");
        let sustained = figure(header, row, "sustained events/s");
        assert!(sustained > 0.0 && sustained <= figure(header, row, "events/s") + 1.0, "{row:?}");
    }
}

#[test]
fn every_level_of_the_load_is_answered_and_carried_out_to_its_last_action() {
    let report = bench(&Demo::new());
    let (header, rows) = table(&report, "store changes per synced commit");
    let levels: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(levels, ["1", "16", "64"], "{report}");
    all_carried_out(&header, &rows);
}

#[test]
fn on_postgresql_one_and_two_servers_carry_out_every_level() {
    let Some(demo) = Demo::on_postgres() else { return };
    let report = bench(&demo);
    let (header, rows) = table(&report, "transactions per event");
    let setups: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(
        setups,
        [
            ("SQLite", "1"),
            ("SQLite", "1"),
            ("PostgreSQL", "1"),
            ("PostgreSQL", "1"),
            ("PostgreSQL", "2"),
            ("PostgreSQL", "2")
        ],
        "{report}"
    );
    all_carried_out(&header, &rows);
}
