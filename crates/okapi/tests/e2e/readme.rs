//! The README's command list and its list of intentional differences are generated:
//! from the command table (every command a server answers) and from the differential
//! tester's documented differences. This test fails when either is stale;
//! `OKAPI_BLESS=1 cargo nextest run -p okapi readme` rewrites them.

use std::collections::BTreeMap;

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");

/// The generated text of the section between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
fn section(name: &str) -> String {
    match name {
        "commands" => {
            let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for spec in okapi_commands::spec::all() {
                groups
                    .entry(spec.group)
                    .or_default()
                    .push(spec.name.to_ascii_uppercase());
            }
            let total: usize = groups.values().map(Vec::len).sum();
            let mut out = format!(
                "{total} commands (subcommands under their container: `COMMAND DOCS` lists \
                 them), by group:\n\n| group | commands |\n| --- | --- |\n"
            );
            for (group, mut names) in groups {
                names.sort();
                out.push_str(&format!("| {group} | {} |\n", names.join(", ")));
            }
            out
        }
        "differences" => okapi_testkit::differential::INTENTIONAL
            .iter()
            .map(|d| {
                let with = d
                    .argument
                    .map(|a| format!(" with `{a}`"))
                    .unwrap_or_default();
                format!("  - `{}`{with}: {}\n", d.command, d.reason)
            })
            .collect(),
        other => panic!("no generated section {other}"),
    }
}

#[test]
fn readme_lists_are_generated_from_the_code() {
    let mut text = std::fs::read_to_string(README).expect("README.md");
    let mut stale = Vec::new();
    for name in ["commands", "differences"] {
        let begin = format!("<!-- {name}:begin -->\n");
        let end = format!("<!-- {name}:end -->");
        let start = text.find(&begin).expect("the section's begin marker") + begin.len();
        let stop = text[start..].find(&end).expect("the section's end marker") + start;
        let want = section(name);
        if text[start..stop] != want {
            stale.push(name);
            text.replace_range(start..stop, &want);
        }
    }
    if std::env::var_os("OKAPI_BLESS").is_some() {
        std::fs::write(README, &text).expect("write README.md");
        return;
    }
    assert!(
        stale.is_empty(),
        "README sections {stale:?} are stale: run OKAPI_BLESS=1 cargo nextest run -p okapi readme"
    );
}
