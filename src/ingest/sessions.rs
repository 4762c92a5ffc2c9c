//! Exec-session correlation: a Falco process event inside a pod is
//! attributed to the human who opened a `kubectl exec` (or attach) session
//! into that pod, so what they ran inside the container counts toward their
//! history.
//!
//! The window rule: a process at time `t` in (cluster, namespace, pod)
//! belongs to the latest session into that pod opened in
//! `[t - SESSION_WINDOW, t + CLOCK_SKEW]`. Once a process session (`proc.sid`)
//! is attributed, later processes with the same sid in that pod stay with the
//! same person, even after someone else opens a session into the pod or the
//! window has passed: one shell is one person's. Sessions are read from the
//! lake's `k8s_audit` events.
//!
//! Falco's processes and the audit log of the same hours arrive
//! independently, so an ingest of audit logs ends with a re-attribution
//! pass ([`reattribute`]): Falco processes already in the lake that went to
//! their workload, in the days its sessions fall on and the next, are given
//! to the sessions now known, by the window rule (the lake keeps no process
//! session ids, so a shell that outlives the window stays with the
//! workload), and their files rewritten in place.

use std::collections::HashMap;

use polars::prelude::*;

use super::falco::workload_identity;
use super::Normalised;
use crate::error::{Error, Result};
use crate::lake::{discover, events_frame, partition, partitions::list_partition, Location, T};
use crate::schema::{
    Event, ACTION, CLUSTER_ID, EVENT_TIME, NAMESPACE, NODE, POD, PROCESS_SESSION, SOURCE, USER,
};
use crate::window::date_of;

/// Falco's files in a partition: `part-falco-<run>-<batch>.parquet`.
const FALCO_FILE_PREFIX: &str = "part-falco-";

/// How long after a session opens a new process may still belong to it.
pub const SESSION_WINDOW: i64 = 3_600_000_000;
/// Clock skew tolerated between the node (Falco) and the API server.
pub const CLOCK_SKEW: i64 = 5_000_000;

const SESSION_ACTIONS: [&str; 4] = [
    "create pods/exec",
    "get pods/exec",
    "create pods/attach",
    "get pods/attach",
];

type PodKey = (Option<String>, String, String);

/// Attributes the Falco events in place; returns how many went to a person.
pub fn attribute(lake: &crate::lake::Location, events: &mut [Normalised]) -> Result<u64> {
    let in_pods = events.iter().filter(|n| n.event.pod.is_some());
    let (Some(first), Some(last)) = (
        in_pods.clone().map(|n| n.event.event_time).min(),
        in_pods.map(|n| n.event.event_time).max(),
    ) else {
        return Ok(0);
    };
    let sessions = load_sessions(lake, first - SESSION_WINDOW, last + CLOCK_SKEW)?;
    Ok(attribute_with(&sessions, events))
}

/// Sessions per pod, sorted by start: (start, user).
type Sessions = HashMap<PodKey, Vec<(i64, String)>>;

pub fn attribute_with(sessions: &Sessions, events: &mut [Normalised]) -> u64 {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].event.event_time);
    let mut by_process: HashMap<(PodKey, i64), String> = HashMap::new();
    let mut attributed = 0;
    for i in order {
        let n = &mut events[i];
        let (Some(ns), Some(pod)) = (n.event.namespace.as_deref(), n.event.pod.as_deref()) else {
            continue;
        };
        let key: PodKey = (
            n.event.cluster_id.as_deref().map(str::to_owned),
            ns.to_owned(),
            pod.to_owned(),
        );
        let t = n.event.event_time;
        let sticky = n
            .event
            .process_session
            .and_then(|sid| by_process.get(&(key.clone(), sid)).cloned());
        let opener = sticky.or_else(|| {
            sessions.get(&key).and_then(|list| {
                list.iter()
                    .rev()
                    .find(|(start, _)| *start <= t + CLOCK_SKEW && *start >= t - SESSION_WINDOW)
                    .map(|(_, user)| user.clone())
            })
        });
        if let Some(user) = opener {
            if let Some(sid) = n.event.process_session {
                by_process.insert((key, sid), user.clone());
            }
            n.event.user = user.into();
            attributed += 1;
        } else {
            n.event.user = workload_identity(
                n.event.namespace.as_deref(),
                n.event.pod.as_deref(),
                n.event.node.as_deref(),
            )
            .into();
        }
    }
    attributed
}

/// Exec and attach sessions recorded in the lake between `from` and `to`.
fn load_sessions(lake: &crate::lake::Location, from: i64, to: i64) -> Result<Sessions> {
    let mut sessions = Sessions::new();
    if !lake.join(crate::schema::EVENTS_DIR).is_dir()? {
        return Ok(sessions);
    }
    let dates: Vec<chrono::NaiveDate> = date_of(from)
        .iter_days()
        .take_while(|d| *d <= date_of(to))
        .collect();
    let files = discover(lake, &dates)?;
    if files.files.is_empty() {
        return Ok(sessions);
    }
    let actions = Series::new("actions".into(), SESSION_ACTIONS.as_slice());
    let df = events_frame(
        &files.files,
        &[USER, ACTION, SOURCE, CLUSTER_ID, NAMESPACE, POD],
    )?
    .filter(
        col(SOURCE)
            .eq(lit("k8s_audit"))
            .and(col(ACTION).is_in(lit(actions).implode(false), false))
            .and(col(NAMESPACE).is_not_null())
            .and(col(POD).is_not_null()),
    )
    .collect()
    .map_err(Error::query("reading exec sessions from the lake"))?;
    let text = |name: &str| df.column(name).and_then(|c| c.str().cloned());
    let mut read = || -> PolarsResult<()> {
        let (t, users, clusters, namespaces, pods) = (
            df.column(T)?.i64()?.clone(),
            text(USER)?,
            text(CLUSTER_ID)?,
            text(NAMESPACE)?,
            text(POD)?,
        );
        for i in 0..df.height() {
            let (Some(t), Some(user), Some(ns), Some(pod)) =
                (t.get(i), users.get(i), namespaces.get(i), pods.get(i))
            else {
                continue;
            };
            let key = (
                clusters.get(i).map(str::to_owned),
                ns.to_owned(),
                pod.to_owned(),
            );
            sessions.entry(key).or_default().push((t, user.to_owned()));
        }
        Ok(())
    };
    read().map_err(Error::query("reading exec sessions from the lake"))?;
    for list in sessions.values_mut() {
        list.sort();
    }
    Ok(sessions)
}

/// Gives the Falco processes in the lake's partitions of `days` (and each
/// next day, where a session's hour may end) that went to their workload
/// to the exec sessions the lake now holds; rewrites each file that changed
/// in place. Returns how many processes went to a person.
pub fn reattribute(lake: &Location, days: &[chrono::NaiveDate]) -> Result<u64> {
    let mut dates: Vec<chrono::NaiveDate> = days
        .iter()
        .flat_map(|d| [*d, d.succ_opt().unwrap_or(*d)])
        .collect();
    dates.sort();
    dates.dedup();
    let mut attributed = 0;
    for date in dates {
        for file in list_partition(&partition(lake, date))?.unwrap_or_default() {
            if file.location.file_name().starts_with(FALCO_FILE_PREFIX) {
                attributed += reattribute_file(lake, &file.location)?;
            }
        }
    }
    Ok(attributed)
}

/// One Falco file's processes attributed again, as ingest would have with
/// the sessions the lake holds now; the file is rewritten in place (an
/// atomic rename locally, one PUT on S3) if any process changed hands.
/// Returns how many went from their workload to a person.
fn reattribute_file(lake: &Location, file: &Location) -> Result<u64> {
    let mut df = file.read_parquet()?;
    let doing = format!("re-attributing the Falco processes in {file}");
    let (processes, users) = processes(&df).map_err(Error::query(doing.clone()))?;
    let still_workload = |n: &Normalised| {
        let e = &n.event;
        e.user == workload_identity(e.namespace.as_deref(), e.pod.as_deref(), e.node.as_deref())
    };
    if !processes.iter().any(|(_, n)| still_workload(n)) {
        return Ok(0);
    }
    let times = processes.iter().map(|(_, n)| n.event.event_time);
    let (first, last) = (times.clone().min().unwrap_or(0), times.max().unwrap_or(0));
    let sessions = load_sessions(lake, first - SESSION_WINDOW, last + CLOCK_SKEW)?;
    let before: Vec<bool> = processes.iter().map(|(_, n)| still_workload(n)).collect();
    let mut events: Vec<Normalised> = processes.iter().map(|(_, n)| n.clone()).collect();
    attribute_with(&sessions, &mut events);
    // Only processes still with their workload change hands: one already
    // given to a person may have been, through its shell, by a process
    // in another file, which this file alone cannot see.
    let mut users = users;
    let mut gained = 0;
    for (((row, _), n), was_workload) in processes.iter().zip(&events).zip(before) {
        if was_workload && !still_workload(n) {
            users[*row] = Some(n.event.user.to_string());
            gained += 1;
        }
    }
    if gained > 0 {
        df.with_column(Column::new(USER.into(), users))
            .map_err(Error::query(doing))?;
        file.write_parquet(&df)?;
    }
    Ok(gained)
}

/// The file's processes in pods, as ingest saw them, by row; and every
/// row's user.
#[allow(clippy::type_complexity)]
fn processes(
    df: &DataFrame,
) -> PolarsResult<(Vec<(usize, Normalised<'static>)>, Vec<Option<String>>)> {
    let text = |name: &str| -> PolarsResult<Option<StringChunked>> {
        match df.column(name) {
            Ok(c) => Ok(Some(c.str()?.clone())),
            Err(_) => Ok(None),
        }
    };
    let users = df.column(USER)?.str()?.clone();
    let all_users = users.iter().map(|u| u.map(str::to_owned)).collect();
    let (Some(namespaces), Some(pods)) = (text(NAMESPACE)?, text(POD)?) else {
        return Ok((Vec::new(), all_users));
    };
    let (clusters, nodes) = (text(CLUSTER_ID)?, text(NODE)?);
    let sids = match df.column(PROCESS_SESSION) {
        Ok(c) => Some(c.i64()?.clone()),
        Err(_) => None,
    };
    let times = df.column(EVENT_TIME)?.cast(&DataType::Int64)?;
    let times = times.i64()?;
    let owned = |c: &Option<StringChunked>, i: usize| {
        c.as_ref()
            .and_then(|c| c.get(i))
            .map(|s| s.to_owned().into())
    };
    let mut out = Vec::new();
    for i in 0..df.height() {
        let (Some(user), Some(t), Some(_), Some(_)) =
            (users.get(i), times.get(i), namespaces.get(i), pods.get(i))
        else {
            continue;
        };
        let event = Event {
            event_time: t,
            user: user.to_owned().into(),
            namespace: namespaces.get(i).map(|s| s.to_owned().into()),
            pod: pods.get(i).map(|s| s.to_owned().into()),
            node: owned(&nodes, i),
            cluster_id: owned(&clusters, i),
            process_session: sids.as_ref().and_then(|s| s.get(i)),
            ..Default::default()
        };
        out.push((i, Normalised { event }));
    }
    Ok((out, all_users))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn process(t: i64, pod: &str, sid: i64) -> Normalised<'_> {
        Normalised {
            event: Event {
                event_time: t,
                user: "pod:payments/x".into(),
                namespace: Some("payments".into()),
                pod: Some(pod.into()),
                process_session: Some(sid),
                ..Default::default()
            },
        }
    }

    fn sessions(list: &[(i64, &str, &str)]) -> Sessions {
        let mut s = Sessions::new();
        for (t, pod, user) in list {
            s.entry((None, "payments".into(), (*pod).into()))
                .or_default()
                .push((*t, (*user).into()));
        }
        s
    }

    #[test]
    fn a_process_in_a_pod_during_an_exec_session_is_the_openers() {
        let s = sessions(&[(0, "api-0", "alice@example.com")]);
        let mut events = vec![process(2 * MIN, "api-0", 1), process(2 * MIN, "api-1", 2)];
        assert_eq!(attribute_with(&s, &mut events), 1);
        assert_eq!(events[0].event.user, "alice@example.com");
        assert_eq!(events[1].event.user, "pod:payments/api-1");
    }

    #[test]
    fn overlapping_sessions_keep_each_shell_with_the_person_who_opened_it() {
        // Alice opens a shell, Bob opens another into the same pod while
        // Alice's is still running; each shell's processes stay with its opener.
        let s = sessions(&[
            (0, "api-0", "alice@example.com"),
            (10 * MIN, "api-0", "bob@example.com"),
        ]);
        let mut events = vec![
            process(MIN, "api-0", 100),      // Alice's shell
            process(11 * MIN, "api-0", 200), // Bob's shell
            process(12 * MIN, "api-0", 100), // Alice's shell again
            process(90 * MIN, "api-0", 100), // long after the window, same shell
        ];
        assert_eq!(attribute_with(&s, &mut events), 4);
        let users: Vec<&str> = events.iter().map(|n| n.event.user.as_ref()).collect();
        assert_eq!(
            users,
            [
                "alice@example.com",
                "bob@example.com",
                "alice@example.com",
                "alice@example.com"
            ]
        );
    }

    #[test]
    fn a_process_long_after_any_session_is_the_workloads() {
        let s = sessions(&[(0, "api-0", "alice@example.com")]);
        let mut events = vec![process(2 * SESSION_WINDOW, "api-0", 7)];
        assert_eq!(attribute_with(&s, &mut events), 0);
        assert_eq!(events[0].event.user, "pod:payments/api-0");
    }
}
