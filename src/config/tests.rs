use super::*;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()))
}

#[test]
fn defaults() {
    let c = config(&[]).unwrap();
    assert_eq!(c.tag_key, "ecs-redeploy");
    assert_eq!(c.select, Select::Matching);
    assert_eq!(c.clusters, ClusterScope::All);
    assert_eq!(c.max_concurrency.get(), 8);
    assert_eq!(c.mode, Mode::Apply);
    assert_eq!(c.default_method, Method::Force);
    assert_eq!(c.new_revisions, NewRevisions::Enabled);
    assert_eq!(c.lambda_functions, LambdaFunctions::Enabled);
    assert_eq!(c.lock_table, None);
    assert_eq!(c.retry_mode, RetryMode::Adaptive);
    assert_eq!(c.max_attempts, 5);
    assert_eq!(c.pacing, Pacing::Documented);
    assert_eq!(c.metrics_namespace, "ecs-redeploy");
    assert_eq!(c.notify_bus, None);
    assert_eq!(
        config(&[("SELECT", ""), ("CLUSTERS", "  "), ("NOTIFY_BUS", "")]).unwrap(),
        c
    );
}

#[test]
fn reads_every_setting() {
    let c = config(&[
        ("TAG_KEY", "deploy"),
        ("SELECT", "opted-in"),
        ("CLUSTERS", "prod, arn:aws:ecs:us-east-1:123456789012:cluster/stage,"),
        ("MAX_CONCURRENCY", "16"),
        ("DRY_RUN", "true"),
        ("DEFAULT_ACTION", "pin"),
        ("NEW_REVISIONS", "disabled"),
        ("LAMBDA_FUNCTIONS", "disabled"),
        ("LOCK_TABLE", "ecs-redeploy-locks"),
        ("RETRY_MODE", "standard"),
        ("MAX_ATTEMPTS", "3"),
        ("ECS_PACING", "off"),
        ("METRICS_NAMESPACE", "Team/ecs-redeploy"),
        ("NOTIFY_BUS", "default"),
    ])
    .unwrap();
    assert_eq!(c.tag_key, "deploy");
    assert_eq!(c.select, Select::OptedIn);
    assert_eq!(
        c.clusters,
        ClusterScope::Listed(vec![
            "prod".into(),
            "arn:aws:ecs:us-east-1:123456789012:cluster/stage".into()
        ])
    );
    assert_eq!(c.max_concurrency.get(), 16);
    assert_eq!(c.mode, Mode::Plan);
    assert_eq!(c.default_method, Method::Pin);
    assert_eq!(c.new_revisions, NewRevisions::Disabled);
    assert_eq!(c.lambda_functions, LambdaFunctions::Disabled);
    assert_eq!(c.lock_table.as_deref(), Some("ecs-redeploy-locks"));
    assert_eq!(c.retry_mode, RetryMode::Standard);
    assert_eq!(c.max_attempts, 3);
    assert_eq!(c.pacing, Pacing::Off);
    assert_eq!(c.metrics_namespace, "Team/ecs-redeploy");
    assert_eq!(c.notify_bus.as_deref(), Some("default"));
}

#[test]
fn notify_bus_is_a_bus_name_or_an_event_bus_arn() {
    for bus in [
        "default",
        "team.deployments-2_x",
        "aws.partner/example.com/123/feed",
        "arn:aws:events:us-east-1:123456789012:event-bus/default",
        "arn:aws-cn:events:cn-north-1:123456789012:event-bus/deployments",
        "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/aws.partner/x/y",
        &"b".repeat(256),
    ] {
        assert_eq!(config(&[("NOTIFY_BUS", bus)]).unwrap().notify_bus.as_deref(), Some(bus));
    }
    for bus in [
        "my bus",
        "bus:1",
        "bus*",
        &"b".repeat(257),
        "arn:aws:events:us-east-1:123456789012:rule/default",
        "arn:aws:sns:us-east-1:123456789012:event-bus/default",
        "arn:aws:events:us-east-1:1234:event-bus/default",
        "arn:aws:events::123456789012:event-bus/default",
        "arn:aws:events:us-east-1:123456789012:event-bus/",
        "arn:aws:events:us-east-1:123456789012:event-bus/a:b",
        "arn:aws:events:us-east-1:123456789012",
    ] {
        let error = config(&[("NOTIFY_BUS", bus)]).unwrap_err();
        assert_eq!(error.variable, "NOTIFY_BUS", "{bus}");
    }
}

#[test]
fn errors_name_the_variable_and_accepted_values() {
    let cases = [
        (
            ("SELECT", "all"),
            "invalid SELECT=`all`: expected `matching` or `opted-in`",
        ),
        (
            ("NEW_REVISIONS", "Enabled"),
            "invalid NEW_REVISIONS=`Enabled`: expected `enabled` or `disabled`",
        ),
        (
            ("LAMBDA_FUNCTIONS", "on"),
            "invalid LAMBDA_FUNCTIONS=`on`: expected `enabled` or `disabled`",
        ),
        (
            ("MAX_CONCURRENCY", "eight"),
            "invalid MAX_CONCURRENCY=`eight`: expected a whole number from 1 to 64",
        ),
        (
            ("MAX_CONCURRENCY", "0"),
            "invalid MAX_CONCURRENCY=`0`: expected a whole number from 1 to 64",
        ),
        (
            ("MAX_CONCURRENCY", "65"),
            "invalid MAX_CONCURRENCY=`65`: expected a whole number from 1 to 64",
        ),
        (("DRY_RUN", "yes"), "invalid DRY_RUN=`yes`: expected `true` or `false`"),
        (
            ("RETRY_MODE", "legacy"),
            "invalid RETRY_MODE=`legacy`: expected `standard` or `adaptive`",
        ),
        (
            ("MAX_ATTEMPTS", "11"),
            "invalid MAX_ATTEMPTS=`11`: expected a whole number from 1 to 10",
        ),
        (
            ("ECS_PACING", "on"),
            "invalid ECS_PACING=`on`: expected `documented` or `off`",
        ),
        (
            ("METRICS_NAMESPACE", "AWS/ECS"),
            "invalid METRICS_NAMESPACE=`AWS/ECS`: expected a CloudWatch namespace (1-255 letters, digits, spaces, `. - _ / # :`, not starting with `AWS/`)",
        ),
        (
            ("NOTIFY_BUS", "my bus"),
            "invalid NOTIFY_BUS=`my bus`: expected an EventBridge event bus name (1-256 letters, digits, `.`, `-`, `_`, `/`) or its ARN (`arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`)",
        ),
        (
            ("TAG_KEY", "aws:x"),
            "invalid TAG_KEY=`aws:x`: expected a tag key of 1-128 characters not starting with `aws:` (in any case)",
        ),
        (
            ("TAG_KEY", "AWS:team"),
            "invalid TAG_KEY=`AWS:team`: expected a tag key of 1-128 characters not starting with `aws:` (in any case)",
        ),
        (
            ("CLUSTERS", "prod,bad name"),
            "invalid CLUSTERS=`prod,bad name`: expected comma-separated cluster names (letters, digits, `-`, `_`) or cluster ARNs",
        ),
        (
            ("CLUSTERS", "arn:aws:ecs:us-east-1:123456789012:service/x/y"),
            "invalid CLUSTERS=`arn:aws:ecs:us-east-1:123456789012:service/x/y`: expected comma-separated cluster names (letters, digits, `-`, `_`) or cluster ARNs",
        ),
    ];
    for ((key, value), message) in cases {
        assert_eq!(config(&[(key, value)]).unwrap_err().to_string(), message);
    }
}

#[test]
fn every_word_of_a_choice_and_every_default_parses() {
    for setting in SETTINGS {
        if let Accepts::OneOf(words) = setting.accepts {
            for word in words {
                assert!(
                    config(&[(setting.variable, word)]).is_ok(),
                    "{}={word}",
                    setting.variable
                );
            }
        }
        if let WhenUnset::Value(value) = setting.default {
            assert_eq!(
                config(&[(setting.variable, value)]),
                config(&[]),
                "{}={value}",
                setting.variable
            );
        }
    }
}

#[test]
fn help_lists_every_setting_with_its_values_and_default() {
    let help = settings_help();
    for setting in SETTINGS {
        let at = help
            .find(&format!("  {} ", setting.variable))
            .unwrap_or_else(|| panic!("{} missing from\n{help}", setting.variable));
        // Its lines: the first, and those continued under it.
        let mut lines = help[at..].lines();
        let mut entry = lines.next().unwrap_or_default().to_owned();
        for line in lines.take_while(|line| line.starts_with(&" ".repeat(HELP_INDENT))) {
            entry = format!("{entry} {line}");
        }
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let entry = words(&entry);
        assert!(entry.contains(&words(setting.help)), "{entry}");
        assert!(entry.contains(&words(&setting.expected())), "{entry}");
    }
    assert!(
        help.contains("NOTIFY_BUS") && help.contains("METRICS_NAMESPACE"),
        "{help}"
    );
    assert!(help.contains("[default: none: no events]"), "{help}");
    assert!(help.lines().all(|line| line.chars().count() <= HELP_WIDTH), "{help}");
}

/// The page's first table, as its cells.
fn docs_rows(page: &str) -> Vec<Vec<String>> {
    page.lines()
        .skip_while(|line| !line.starts_with("| variable"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn render(setting: &Setting) -> [String; 3] {
    let default = match setting.default {
        WhenUnset::Value(value) => format!("`{value}`"),
        WhenUnset::Means(words) => words.to_owned(),
    };
    [format!("`{}`", setting.variable), setting.expected(), default]
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

#[test]
fn the_docs_table_is_the_settings_table() {
    let rows = docs_rows(&read("docs/src/reference/configuration.md"));
    let expected: Vec<String> = SETTINGS
        .iter()
        .map(|s| format!("| {} | {} |", render(s).join(" | "), s.help))
        .collect();
    let table = expected.join("\n");
    assert_eq!(
        rows.len(),
        SETTINGS.len(),
        "docs/src/reference/configuration.md's table should be:\n{table}"
    );
    for (row, setting) in rows.iter().zip(SETTINGS) {
        assert_eq!(
            row[..3],
            render(setting),
            "docs/src/reference/configuration.md's table should be:\n{table}"
        );
        assert!(
            row[3].starts_with(setting.help),
            "{}: the help is `{}`",
            setting.variable,
            setting.help
        );
    }
}

/// `VARIABLE: value` lines of the block that starts after the line holding `opening`, as long as they are
/// indented deeper than that line.
fn block_entries(text: &str, opening: &str) -> Vec<(String, String)> {
    let mut lines = text.lines().skip_while(|line| !line.contains(opening));
    let indent = |line: &str| line.len() - line.trim_start().len();
    let depth = indent(lines.next().unwrap_or_else(|| panic!("no `{opening}`")));
    lines
        .take_while(|line| line.trim().is_empty() || indent(line) > depth)
        .filter_map(|line| {
            // `...(table && { LOCK_TABLE: … })`: a variable the construct sets only with its resource.
            let entry = line.trim();
            let entry = entry.split_once("&& { ").map_or(entry, |(_, rest)| rest);
            let (key, value) = entry.split_once(": ")?;
            key.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_')
                .then(|| (key.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn sorted_variables() -> Vec<String> {
    let mut variables: Vec<String> = SETTINGS.iter().map(|s| s.variable.to_owned()).collect();
    variables.sort();
    variables
}

#[test]
fn template_sets_every_setting_with_its_default() {
    let template = read("template.yaml");
    let environment = block_entries(&template, "        Variables:");
    let mut variables: Vec<String> = environment.iter().map(|(k, _)| k.clone()).collect();
    variables.sort();
    assert_eq!(variables, sorted_variables(), "template.yaml's function environment");
    for (variable, value) in &environment {
        let setting = SETTINGS.iter().find(|s| s.variable == variable).unwrap();
        let (Some(parameter), WhenUnset::Value(default)) = (value.strip_prefix("!Ref "), &setting.default) else {
            continue;
        };
        let declared = template
            .split_once(&format!("\n  {parameter}:\n"))
            .and_then(|(_, rest)| {
                rest.lines()
                    .take_while(|l| l.starts_with("    "))
                    .find_map(|l| l.trim().strip_prefix("Default: "))
            })
            .unwrap_or_else(|| panic!("parameter {parameter} has no Default"));
        assert_eq!(
            declared.trim_matches('"'),
            *default,
            "{variable}: the default of parameter {parameter}"
        );
    }
}

#[test]
fn cdk_construct_sets_every_setting_with_its_default() {
    let construct = read("cdk/lib/ecs-redeploy.ts");
    let environment = block_entries(&construct, "environment: {");
    let mut variables: Vec<String> = environment.iter().map(|(k, _)| k.clone()).collect();
    variables.sort();
    assert_eq!(
        variables,
        sorted_variables(),
        "the function environment of cdk/lib/ecs-redeploy.ts"
    );
    for (variable, value) in &environment {
        let setting = SETTINGS.iter().find(|s| s.variable == variable).unwrap();
        if let (Some((_, fallback)), WhenUnset::Value(default)) = (value.split_once(" ?? "), &setting.default) {
            let fallback = fallback.trim_end_matches(',').trim_end_matches(')').trim_matches('\'');
            assert_eq!(fallback, *default, "{variable}: the construct's default");
        }
    }
}

#[test]
fn wave_settings() {
    let c = config(&[]).unwrap();
    assert_eq!(
        (c.wave_tag_key.as_str(), c.wave_bake),
        ("ecs-redeploy-wave", Duration::ZERO)
    );
    let c = config(&[("WAVE_TAG_KEY", "stage"), ("WAVE_BAKE", "86400")]).unwrap();
    assert_eq!((c.wave_tag_key.as_str(), c.wave_bake.as_secs()), ("stage", 86_400));
    assert_eq!(c.wave_queue, None);
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecs-redeploy-events";
    assert_eq!(config(&[("WAVE_QUEUE", url)]).unwrap().wave_queue.as_deref(), Some(url));
    for (variable, value) in [
        ("WAVE_BAKE", "86401"),
        ("WAVE_BAKE", "-1"),
        ("WAVE_BAKE", "5m"),
        ("WAVE_TAG_KEY", "AWS:wave"),
        // The opt-in/out tag cannot name waves too.
        ("WAVE_TAG_KEY", "ecs-redeploy"),
        ("WAVE_QUEUE", "ecs-redeploy-events"),
        ("WAVE_QUEUE", "https://sqs.us-east-1.amazonaws.com/1234/q"),
        ("WAVE_QUEUE", "https://sqs.us-east-1.amazonaws.com/123456789012/q/x"),
    ] {
        let error = config(&[(variable, value)]).unwrap_err();
        assert_eq!((error.variable, error.value.as_str()), (variable, value));
    }
}
