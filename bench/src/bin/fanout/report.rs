//! Medians, ratios to OpenSSH, the floor, the targets; TSV and Markdown.

use std::fmt::Write as _;

use crate::measure::Cost;
use crate::tools::{Tool, Workload};

/// One run of one tool.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) tool: Tool,
    pub(crate) workload: Workload,
    pub(crate) hosts: usize,
    /// 0 for the warm-up, which is not counted.
    pub(crate) rep: usize,
    pub(crate) cost: Cost,
    /// Load average just before the run.
    pub(crate) load: f64,
    /// Every host's output checked out.
    pub(crate) ok: bool,
    /// The rest of the machine was busy meanwhile: not counted.
    pub(crate) disturbed: bool,
    pub(crate) note: String,
}

/// Medians of one tool at one size.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) workload: Workload,
    pub(crate) hosts: usize,
    pub(crate) tool: Tool,
    pub(crate) ok: usize,
    pub(crate) runs: usize,
    pub(crate) wall: f64,
    pub(crate) cpu: f64,
    pub(crate) rss_mib: f64,
    pub(crate) server_cpu: f64,
    /// The rest of the machine's CPU seconds during the run.
    pub(crate) other_cpu: f64,
    /// Servers' CPU seconds / cores: no client can finish sooner.
    pub(crate) floor: f64,
    /// Median over runs of wall / that run's floor.
    pub(crate) wall_over_floor: f64,
    /// wall, CPU and memory divided by OpenSSH's medians at the same size.
    pub(crate) vs_ssh: Option<(f64, f64, f64)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

pub(crate) fn summarize(samples: &[Sample], cores: usize) -> Vec<Row> {
    let mut keys: Vec<(Workload, usize, Tool)> = samples
        .iter()
        .filter(|s| s.rep > 0)
        .map(|s| (s.workload, s.hosts, s.tool))
        .collect();
    keys.sort();
    keys.dedup();
    let cores = cores as f64;
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|(workload, hosts, tool)| {
            let runs: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.rep > 0 && (s.workload, s.hosts, s.tool) == (workload, hosts, tool))
                .collect();
            let mut reps: Vec<usize> = runs.iter().map(|s| s.rep).collect();
            reps.dedup();
            let good: Vec<&Cost> = runs
                .iter()
                .filter(|s| s.ok && !s.disturbed)
                .map(|s| &s.cost)
                .collect();
            let m = |f: fn(&Cost) -> f64| median(good.iter().map(|c| f(c)).collect());
            let server_cpu = m(|c| c.server_cpu);
            Row {
                workload,
                hosts,
                tool,
                ok: good.len(),
                runs: reps.len(),
                wall: m(|c| c.wall),
                cpu: m(|c| c.cpu),
                rss_mib: m(|c| c.max_rss_kib as f64 / 1024.0),
                server_cpu,
                other_cpu: m(|c| c.other_cpu),
                floor: server_cpu / cores,
                wall_over_floor: median(
                    good.iter()
                        .map(|c| c.wall / (c.server_cpu / cores))
                        .collect(),
                ),
                vs_ssh: None,
            }
        })
        .collect();
    let ssh: Vec<(Workload, usize, f64, f64, f64)> = rows
        .iter()
        .filter(|r| r.tool == Tool::OpenSsh && r.ok > 0)
        .map(|r| (r.workload, r.hosts, r.wall, r.cpu, r.rss_mib))
        .collect();
    for r in &mut rows {
        if r.ok == 0 {
            continue;
        }
        if let Some(&(_, _, w, c, m)) = ssh.iter().find(|s| (s.0, s.1) == (r.workload, r.hosts)) {
            r.vs_ssh = Some((r.wall / w, r.cpu / c, r.rss_mib / m));
        }
    }
    rows
}

fn f2(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x < 0.1 {
        format!("{x:.3}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// The Markdown table of medians.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| workload | hosts | tool | runs ok | wall s | client CPU s | peak MiB | servers' CPU s | floor s | wall / floor | wall × OpenSSH | CPU × OpenSSH | memory × OpenSSH | others' CPU s |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let (w, c, m) = r
            .vs_ssh
            .map_or(("–".into(), "–".into(), "–".into()), |(w, c, m)| {
                (f2(w), f2(c), f2(m))
            });
        let tool = if r.tool == Tool::Minke {
            format!("**{}**", r.tool)
        } else {
            r.tool.to_string()
        };
        let _ = writeln!(
            t,
            "| {} | {} | {tool} | {}/{} | {} | {} | {:.0} | {} | {} | {} | {w} | {c} | {m} | {} |",
            r.workload.name(),
            r.hosts,
            r.ok,
            r.runs,
            f2(r.wall),
            f2(r.cpu),
            r.rss_mib,
            f2(r.server_cpu),
            f2(r.floor),
            f2(r.wall_over_floor),
            f2(r.other_cpu),
        );
    }
    t
}

/// Minke against the targets of issue 4, as measured in this run.
pub(crate) fn targets(rows: &[Row]) -> String {
    let mut t = String::from("Targets (Minke, ratios within this run):\n");
    let mut line = |ok: bool, what: String| {
        let _ = writeln!(t, "- {} {what}", if ok { "holds: " } else { "MISSED:" });
    };
    for r in rows.iter().filter(|r| r.tool == Tool::Minke && r.ok > 0) {
        let at = format!("{} workload, {} hosts", r.workload.name(), r.hosts);
        let Some((w, c, _)) = r.vs_ssh else {
            continue;
        };
        if r.workload == Workload::Small && r.hosts >= 200 {
            line(w <= 0.8, format!("wall ≤ 0.8× OpenSSH at {at}: {w:.2}×"));
            line(
                r.wall_over_floor <= 1.3,
                format!(
                    "wall ≤ 1.3× the floor at {at}: {:.2}× ({} s against {} s)",
                    r.wall_over_floor,
                    f2(r.wall),
                    f2(r.floor)
                ),
            );
        }
        if r.workload == Workload::Large {
            line(w <= 1.1, format!("wall ≤ 1.1× OpenSSH at {at}: {w:.2}×"));
        }
        line(
            c <= 0.2,
            format!("client CPU ≤ 0.2× OpenSSH at {at}: {c:.2}×"),
        );
        if r.workload == Workload::Small && r.hosts >= 500 {
            line(
                r.rss_mib < 64.0,
                format!("peak memory < 64 MiB at {at}: {:.0} MiB", r.rss_mib),
            );
        }
    }
    t
}

pub(crate) fn raw_tsv(samples: &[Sample]) -> String {
    let mut t = String::from(
        "workload\thosts\ttool\trep\tok\tdisturbed\twall_s\tclient_cpu_s\tpeak_rss_kib\tserver_cpu_s\tother_cpu_s\tload1\tnote\n",
    );
    for s in samples {
        let _ = writeln!(
            t,
            "{}\t{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.3}\t{}\t{:.2}\t{:.2}\t{:.2}\t{}",
            s.workload.name(),
            s.hosts,
            s.tool,
            s.rep,
            u8::from(s.ok),
            u8::from(s.disturbed),
            s.cost.wall,
            s.cost.cpu,
            s.cost.max_rss_kib,
            s.cost.server_cpu,
            s.cost.other_cpu,
            s.load,
            s.note.replace(['\t', '\n'], " "),
        );
    }
    t
}

pub(crate) fn summary_tsv(rows: &[Row]) -> String {
    let mut t = String::from(
        "workload\thosts\ttool\truns_ok\truns\twall_s\tclient_cpu_s\tpeak_mib\tserver_cpu_s\tother_cpu_s\tfloor_s\twall_over_floor\twall_x_ssh\tcpu_x_ssh\tmem_x_ssh\n",
    );
    for r in rows {
        let (w, c, m) = r.vs_ssh.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
        let _ = writeln!(
            t,
            "{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.3}\t{:.1}\t{:.3}\t{:.3}\t{:.4}\t{:.3}\t{:.3}\t{:.3}\t{:.3}",
            r.workload.name(),
            r.hosts,
            r.tool,
            r.ok,
            r.runs,
            r.wall,
            r.cpu,
            r.rss_mib,
            r.server_cpu,
            r.other_cpu,
            r.floor,
            r.wall_over_floor,
            w,
            c,
            m
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
