//! The settings table: every variable the function and the CLI read, what it accepts, its default and its help.

/// One setting: its variable, what it accepts, what unset means and what it does. `Config::from_lookup` reads
/// each variable through its row (a refused value's error quotes `accepts`), the CLI's `--help` lists the
/// rows, and a test holds template.yaml, the CDK construct and the book's configuration page to them. A new
/// setting is a row here, a line in `SETTINGS` and a line in `from_lookup`.
#[derive(Debug)]
pub struct Setting {
    pub variable: &'static str,
    pub accepts: Accepts,
    pub default: WhenUnset,
    /// What it does, in a line.
    pub help: &'static str,
}

/// The values a setting accepts.
#[derive(Debug)]
pub enum Accepts {
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A value this describes (its parser checks it).
    Described(&'static str),
}

/// What an unset (or empty) variable means.
#[derive(Debug)]
pub enum WhenUnset {
    /// This value.
    Value(&'static str),
    /// No value: this, in words.
    Means(&'static str),
}

pub const TAG_KEY: Setting = Setting {
    variable: "TAG_KEY",
    accepts: Accepts::Described("a tag key of 1-128 characters not starting with `aws:` (in any case)"),
    default: WhenUnset::Value("ecs-redeploy"),
    help: "service tag key that opts services out (`off`) or in",
};
pub const SELECT: Setting = Setting {
    variable: "SELECT",
    accepts: Accepts::OneOf(&["matching", "opted-in"]),
    default: WhenUnset::Value("matching"),
    help: "which matching services may be touched",
};
pub const CLUSTERS: Setting = Setting {
    variable: "CLUSTERS",
    accepts: Accepts::Described("comma-separated cluster names (letters, digits, `-`, `_`) or cluster ARNs"),
    default: WhenUnset::Means("all clusters"),
    help: "where to look",
};
pub const MAX_CONCURRENCY: Setting = Setting {
    variable: "MAX_CONCURRENCY",
    accepts: Accepts::Described("a whole number from 1 to 64"),
    default: WhenUnset::Value("8"),
    help: "ECS calls in flight at once, per step",
};
pub const DRY_RUN: Setting = Setting {
    variable: "DRY_RUN",
    accepts: Accepts::OneOf(&["true", "false"]),
    default: WhenUnset::Value("false"),
    help: "`true`: plan, report and log only (`apply` is a plan)",
};
pub const DEFAULT_ACTION: Setting = Setting {
    variable: "DEFAULT_ACTION",
    accepts: Accepts::OneOf(&["force", "pin"]),
    default: WhenUnset::Value("force"),
    help: "mode of services whose tag does not choose one",
};
pub const NEW_REVISIONS: Setting = Setting {
    variable: "NEW_REVISIONS",
    accepts: Accepts::OneOf(&["enabled", "disabled"]),
    default: WhenUnset::Value("enabled"),
    help: "whether services may get new task-definition revisions (pin mode, tag policies); disabled, such a \
           service is skipped as revisions-disabled",
};
pub const LAMBDA_FUNCTIONS: Setting = Setting {
    variable: "LAMBDA_FUNCTIONS",
    accepts: Accepts::OneOf(&["enabled", "disabled"]),
    default: WhenUnset::Value("enabled"),
    help: "whether container-image Lambda functions on the pushed image are updated too (`UpdateFunctionCode`); \
           disabled, none is listed and the stack grants no Lambda calls",
};
pub const LOCK_TABLE: Setting = Setting {
    variable: "LOCK_TABLE",
    accepts: Accepts::Described("a DynamoDB table name (3-255 letters, digits, `_`, `-`, `.`) or its ARN"),
    default: WhenUnset::Means("none"),
    help: "makes concurrent duplicate deliveries deploy once",
};
pub const RETRY_MODE: Setting = Setting {
    variable: "RETRY_MODE",
    accepts: Accepts::OneOf(&["standard", "adaptive"]),
    default: WhenUnset::Value("adaptive"),
    help: "AWS SDK retry mode; adaptive adds client-side rate limiting once ECS throttles, which a large fleet needs",
};
pub const MAX_ATTEMPTS: Setting = Setting {
    variable: "MAX_ATTEMPTS",
    accepts: Accepts::Described("a whole number from 1 to 10"),
    default: WhenUnset::Value("5"),
    help: "AWS SDK attempts per ECS call",
};
pub const ECS_PACING: Setting = Setting {
    variable: "ECS_PACING",
    accepts: Accepts::OneOf(&["documented", "off"]),
    default: WhenUnset::Value("documented"),
    help: "`documented`: each ECS call waits for a token of its throttle category's bucket, at the burst and \
           refill rate the ECS API reference documents, so throttling is the exception rather than the control \
           loop; `off`: calls go out at once and throttling is left to the SDK's retries",
};
pub const METRICS_NAMESPACE: Setting = Setting {
    variable: "METRICS_NAMESPACE",
    accepts: Accepts::Described(
        "a CloudWatch namespace (1-255 letters, digits, spaces, `. - _ / # :`, not starting with `AWS/`)",
    ),
    default: WhenUnset::Value("ecs-redeploy"),
    help: "namespace of the per-invocation metrics record",
};
pub const NOTIFY_BUS: Setting = Setting {
    variable: "NOTIFY_BUS",
    accepts: Accepts::Described(
        "an EventBridge event bus name (1-256 letters, digits, `.`, `-`, `_`, `/`) or its ARN \
         (`arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`)",
    ),
    default: WhenUnset::Means("none: no events"),
    help: "where one event per redeployed or failed service goes",
};

pub const WAVE_TAG_KEY: Setting = Setting {
    variable: "WAVE_TAG_KEY",
    accepts: Accepts::Described("a tag key of 1-128 characters not starting with `aws:` (in any case)"),
    default: WhenUnset::Value("ecs-redeploy-wave"),
    help: "service tag key whose value (1-99) puts the service in a wave of a staged rollout",
};
pub const WAVE_BAKE: Setting = Setting {
    variable: "WAVE_BAKE",
    accepts: Accepts::Described("a whole number of seconds from 0 to 86400"),
    default: WhenUnset::Value("0"),
    help: "seconds a completed wave bakes before the next wave starts",
};
pub const WAVE_QUEUE: Setting = Setting {
    variable: "WAVE_QUEUE",
    accepts: Accepts::Described("an SQS queue URL (`https://…/ACCOUNT/NAME`)"),
    default: WhenUnset::Means("none: bakes end at the sweep"),
    help: "the function's own event queue, where a delayed message wakes it when a wave's bake ends",
};

/// Every setting, in the order `--help` and the configuration page list them.
pub const SETTINGS: &[Setting] = &[
    TAG_KEY,
    SELECT,
    CLUSTERS,
    MAX_CONCURRENCY,
    DRY_RUN,
    DEFAULT_ACTION,
    NEW_REVISIONS,
    LAMBDA_FUNCTIONS,
    LOCK_TABLE,
    RETRY_MODE,
    MAX_ATTEMPTS,
    ECS_PACING,
    METRICS_NAMESPACE,
    NOTIFY_BUS,
    WAVE_TAG_KEY,
    WAVE_BAKE,
    WAVE_QUEUE,
];

impl Setting {
    /// The accepted values in words, as a refused value's error says them.
    pub fn expected(&self) -> String {
        match self.accepts {
            Accepts::Described(text) => text.to_owned(),
            Accepts::OneOf(words) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                match quoted.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            }
        }
    }
}

/// The settings for the CLI's `--help`: each variable with what it does, then what it accepts and its default.
pub fn settings_help() -> String {
    let mut text = String::new();
    for setting in SETTINGS {
        let default = match setting.default {
            WhenUnset::Value(value) => value,
            WhenUnset::Means(words) => words,
        };
        let name = format!("  {:<width$}", setting.variable, width = HELP_INDENT - 2);
        wrap(&mut text, &name, setting.help);
        let accepts = format!("{} [default: {default}]", setting.expected());
        wrap(&mut text, &" ".repeat(HELP_INDENT), &accepts);
    }
    text
}

pub(super) const HELP_INDENT: usize = 21;
pub(super) const HELP_WIDTH: usize = 110;

/// `start` and the words of `text`, broken before column `HELP_WIDTH`, continued `HELP_INDENT` columns in.
fn wrap(out: &mut String, start: &str, text: &str) {
    let mut line = start.to_owned();
    for word in text.split_whitespace() {
        let width = line.chars().count();
        if width > HELP_INDENT && width + 1 + word.chars().count() > HELP_WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(HELP_INDENT);
        } else if width > HELP_INDENT {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}
