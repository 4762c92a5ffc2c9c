//! The lake contract: column names and types every lake partition must follow.
//!
//! `<lake>/events/dt=YYYY-MM-DD/*.parquet`, hive-partitioned by the UTC date of
//! `event_time`. Other tools write this layout; `load` checks it file by file.

use std::borrow::Cow;

use polars::prelude::*;

pub const EVENTS_DIR: &str = "events";
pub const PARTITION_KEY: &str = "dt";

pub const EVENT_TIME: &str = "event_time";
pub const USER: &str = "user";
pub const TOOL: &str = "tool";
pub const ACTION: &str = "action";
pub const SOURCE: &str = "source";
pub const EVENT_ID: &str = "event_id";

pub const TARGET: &str = "target";
pub const SRC_IP: &str = "src_ip";
pub const USER_AGENT: &str = "user_agent";
pub const CLUSTER_ID: &str = "cluster_id";
pub const ACCOUNT_ID: &str = "account_id";
pub const NAMESPACE: &str = "namespace";
pub const POD: &str = "pod";
pub const NODE: &str = "node";
pub const IMAGE_DIGEST: &str = "image_digest";
pub const GROUPS: &str = "groups";

/// Columns every file must have, with their exact types.
pub const REQUIRED_STRINGS: [&str; 5] = [USER, TOOL, ACTION, SOURCE, EVENT_ID];

/// Optional string columns: stamped at ingestion, nullable, may be absent.
pub const OPTIONAL_STRINGS: [&str; 9] = [
    TARGET,
    SRC_IP,
    USER_AGENT,
    CLUSTER_ID,
    ACCOUNT_ID,
    NAMESPACE,
    POD,
    NODE,
    IMAGE_DIGEST,
];

pub fn event_time_type() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

pub fn groups_type() -> DataType {
    DataType::List(Box::new(DataType::String))
}

/// The full canonical schema, in the order `sample` writes it.
pub fn canonical() -> Schema {
    let mut fields = vec![Field::new(EVENT_TIME.into(), event_time_type())];
    fields.extend(
        REQUIRED_STRINGS
            .iter()
            .chain(OPTIONAL_STRINGS.iter())
            .map(|name| Field::new((*name).into(), DataType::String)),
    );
    fields.push(Field::new(GROUPS.into(), groups_type()));
    Schema::from_iter(fields)
}

/// The type a column must have, or `None` for columns outside the contract
/// (extra columns are allowed and ignored).
pub fn expected_type(column: &str) -> Option<DataType> {
    match column {
        EVENT_TIME => Some(event_time_type()),
        GROUPS => Some(groups_type()),
        ACTING_AS => Some(DataType::String),
        PROCESS_SESSION => Some(DataType::Int64),
        c if REQUIRED_STRINGS.contains(&c) || OPTIONAL_STRINGS.contains(&c) => {
            Some(DataType::String)
        }
        _ => None,
    }
}

pub fn is_required(column: &str) -> bool {
    column == EVENT_TIME || REQUIRED_STRINGS.contains(&column)
}

/// One event in the lake's terms, as writers (`sample`, `ingest`) build it.
/// Text borrows from the raw record where it can: ingest keeps a batch's
/// bytes alive until its events are written, so most fields cost no
/// allocation of their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event<'a> {
    /// Microseconds since the epoch, UTC.
    pub event_time: i64,
    pub user: Text<'a>,
    pub tool: Text<'a>,
    pub action: Text<'a>,
    pub source: Text<'a>,
    pub event_id: Text<'a>,
    pub target: Option<Text<'a>>,
    pub src_ip: Option<Text<'a>>,
    pub user_agent: Option<Text<'a>>,
    pub cluster_id: Option<Text<'a>>,
    pub account_id: Option<Text<'a>>,
    pub namespace: Option<Text<'a>>,
    pub pod: Option<Text<'a>>,
    pub node: Option<Text<'a>>,
    pub image_digest: Option<Text<'a>>,
    pub groups: Option<Vec<Text<'a>>>,
    /// Who the event was performed as, when not the `user` (Kubernetes
    /// impersonation, GCP service-account delegation). Written as the extra
    /// column `acting_as` only by files that have some.
    pub acting_as: Option<Text<'a>>,
    /// Falco's `proc.sid`: processes of one shell share it, so a shell
    /// stays with the person who opened it when its processes are
    /// re-attributed. Written as the extra column `process_session` only by
    /// files that have some.
    pub process_session: Option<i64>,
}

/// A borrowed or owned string field of an [`Event`].
pub type Text<'a> = Cow<'a, str>;

impl Event<'_> {
    /// The [`REQUIRED_STRINGS`] columns' values, in that order.
    pub fn required_texts(&self) -> [&str; 5] {
        [
            &self.user,
            &self.tool,
            &self.action,
            &self.source,
            &self.event_id,
        ]
    }

    /// The [`OPTIONAL_STRINGS`] columns' values, in that order.
    pub fn optional_texts(&self) -> [Option<&str>; 9] {
        [
            self.target.as_deref(),
            self.src_ip.as_deref(),
            self.user_agent.as_deref(),
            self.cluster_id.as_deref(),
            self.account_id.as_deref(),
            self.namespace.as_deref(),
            self.pod.as_deref(),
            self.node.as_deref(),
            self.image_digest.as_deref(),
        ]
    }

    /// The same event owning all its text, for records whose bytes do not
    /// outlive their parse (an event nested inside another as a string).
    pub fn into_owned(self) -> Event<'static> {
        let own = |t: Text| Cow::Owned(t.into_owned());
        let opt = |t: Option<Text>| t.map(own);
        Event {
            event_time: self.event_time,
            user: own(self.user),
            tool: own(self.tool),
            action: own(self.action),
            source: own(self.source),
            event_id: own(self.event_id),
            target: opt(self.target),
            src_ip: opt(self.src_ip),
            user_agent: opt(self.user_agent),
            cluster_id: opt(self.cluster_id),
            account_id: opt(self.account_id),
            namespace: opt(self.namespace),
            pod: opt(self.pod),
            node: opt(self.node),
            image_digest: opt(self.image_digest),
            groups: self.groups.map(|g| g.into_iter().map(own).collect()),
            acting_as: opt(self.acting_as),
            process_session: self.process_session,
        }
    }
}

/// Extra column beside the contract: see [`Event::acting_as`].
pub const ACTING_AS: &str = "acting_as";
/// Extra column beside the contract: see [`Event::process_session`].
pub const PROCESS_SESSION: &str = "process_session";

/// Events as a frame with the canonical schema, in [`canonical`] order.
pub fn frame(events: &[Event]) -> PolarsResult<DataFrame> {
    frame_of(&events.iter().collect::<Vec<_>>())
}

/// [`frame`] over borrowed events, in the order given.
pub fn frame_of(events: &[&Event]) -> PolarsResult<DataFrame> {
    let n = events.len();
    let text = |name: &str| StringChunkedBuilder::new(name.into(), n);
    let mut required = REQUIRED_STRINGS.map(text);
    let mut optional = OPTIONAL_STRINGS.map(text);
    let mut acting_as = events
        .iter()
        .any(|e| e.acting_as.is_some())
        .then(|| text(ACTING_AS));
    let sessions = events.iter().any(|e| e.process_session.is_some());
    let mut process_sessions: Vec<Option<i64>> = Vec::new();
    let mut groups = ListStringChunkedBuilder::new(GROUPS.into(), n, n);
    let mut times = Vec::with_capacity(n);
    // Row by row, every column at once: each event's text is read once,
    // while it is in cache, rather than once per column.
    for e in events {
        times.push(e.event_time);
        for (column, value) in required.iter_mut().zip(e.required_texts()) {
            column.append_value(value);
        }
        for (column, value) in optional.iter_mut().zip(e.optional_texts()) {
            column.append_option(value);
        }
        match &e.groups {
            Some(g) => groups.append_values_iter(g.iter().map(|t| t.as_ref())),
            None => groups.append_null(),
        }
        if let Some(column) = &mut acting_as {
            column.append_option(e.acting_as.as_deref());
        }
        if sessions {
            process_sessions.push(e.process_session);
        }
    }
    let times = Int64Chunked::from_vec(EVENT_TIME.into(), times)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_series();
    let groups = groups.finish().cast(&groups_type())?;
    let mut columns: Vec<Column> = vec![times.into()];
    columns.extend(required.into_iter().map(|c| c.finish().into_column()));
    columns.extend(optional.into_iter().map(|c| c.finish().into_column()));
    columns.push(groups.into());
    columns.extend(acting_as.map(|c| c.finish().into_column()));
    if sessions {
        columns.push(Column::new(PROCESS_SESSION.into(), process_sessions));
    }
    DataFrame::new(n, columns)
}
