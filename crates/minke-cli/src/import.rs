//! `hosts import-ssh-config`: the hosts an OpenSSH client configuration defines,
//! resolved as `ssh -G` resolves them, with their jump chains as host records.

use std::collections::HashMap;
use std::path::Path;

use minke_core::Lines;
use minke_ssh::ssh_config::{Config, JumpHop, Local, Resolved};
use minke_store::{HostOptions, NewHost};

/// The hosts an import writes, in order: each concrete alias of the file, then the
/// jump-only hosts its chains need. A host's jump host is named by its position.
#[derive(Debug, Default)]
pub struct ImportPlan {
    /// The hosts, aliases first.
    pub hosts: Vec<NewHost>,
    /// For each host, the index of its jump host in `hosts`.
    pub jumps: Vec<Option<usize>>,
    /// What the import does not honour, each once (options Minke does not use,
    /// `Match exec` not evaluated...).
    pub warnings: Vec<String>,
}

impl ImportPlan {
    /// How many hosts are jump-only.
    pub fn jump_only(&self) -> usize {
        self.hosts.iter().filter(|h| h.jump_only).count()
    }
}

/// How the import resolves each alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver<'a> {
    /// Minke's own reading of the file, as `ssh -G` would give it (`Match exec` is
    /// not run: it never matches, with a warning).
    Minke,
    /// `ssh -G` itself, once per alias and jump host (the given `ssh` binary):
    /// slower, and `Match exec` commands run.
    Ssh(&'a Path),
}

/// Plans the import of the config file at `path`.
pub fn plan_import(path: &Path, resolver: Resolver<'_>) -> Result<ImportPlan, String> {
    let local = Local::current();
    let config = Config::load(path, &local).map_err(|e| e.to_string())?;
    let aliases = config.aliases();
    if aliases.is_empty() {
        let why = config.warnings();
        return Err(format!(
            "{} defines no concrete Host alias{}{}",
            path.display(),
            if why.is_empty() { "" } else { ": " },
            why.join("; ")
        ));
    }
    let resolve = |name: &str| -> Result<Resolved, String> {
        match resolver {
            Resolver::Minke => config.resolve(name),
            Resolver::Ssh(ssh) => minke_ssh::ssh_config::resolve_with_ssh(ssh, path, name),
        }
        .map_err(|e| e.to_string())
    };
    let mut plan = Planner::default();
    let mut resolved = Vec::with_capacity(aliases.len());
    for alias in &aliases {
        let r = resolve(alias)?;
        plan.add(host_of(&r, false)?);
        resolved.push(r);
    }
    let chains: HashMap<&str, &[JumpHop]> = resolved
        .iter()
        .map(|r| (r.alias.as_str(), r.proxy_jump_hops.as_slice()))
        .collect();
    for (i, r) in resolved.iter().enumerate() {
        if !r.proxy_jump_hops.is_empty() {
            let jump = plan.chain(&r.proxy_jump_hops, &chains, &resolve, &r.alias, 0)?;
            plan.jumps[i] = Some(jump);
        }
    }
    plan.check_loops()?;
    let mut warnings = config.warnings();
    if resolver != Resolver::Minke {
        warnings.retain(|w| !w.contains("Match exec"));
    }
    Ok(ImportPlan {
        hosts: plan.hosts,
        jumps: plan.jumps,
        warnings,
    })
}

/// The host record of a resolved alias (or jump host).
fn host_of(r: &Resolved, jump_only: bool) -> Result<NewHost, String> {
    let named = |e: minke_core::Error| format!("host `{}`: {e}", r.alias);
    let mut h = NewHost::new(r.alias.clone());
    h.hostname = (r.hostname != r.alias).then(|| r.hostname.clone());
    h.port = i32::from(r.port);
    h.username = Some(r.user.clone());
    h.identity_files = Lines::new(&r.identity_files).map_err(named)?;
    if let Some(s) = &r.strict_host_key_checking {
        h.host_key_policy = s
            .parse::<minke_core::HostKeyPolicy>()
            .map_err(named)?
            .as_str()
            .to_owned();
    }
    h.known_hosts = r.user_known_hosts_files.first().cloned();
    h.jump_only = jump_only;
    let env: Vec<String> = r.set_env.iter().map(|(n, v)| format!("{n}={v}")).collect();
    h.options = HostOptions {
        certificate_files: Lines::new(&r.certificate_files).map_err(named)?,
        // Expanded as `ssh -G` would on this machine; the host record expands
        // tokens again when it connects, so its `%` are kept as `%%`.
        proxy_command: r.proxy_command.as_ref().map(|c| c.replace('%', "%%")),
        forward_agent: r.forward_agent,
        environment: Lines::new(&env).map_err(named)?,
        become_user: None,
        keepalive_interval: r.server_alive_interval,
        keepalive_count_max: r.server_alive_count_max,
    };
    h.validate().map_err(|e| e.to_string())?;
    Ok(h)
}

/// The hosts planned so far, by name.
#[derive(Default)]
struct Planner {
    hosts: Vec<NewHost>,
    jumps: Vec<Option<usize>>,
    by_name: HashMap<String, usize>,
    /// The chain each jump-only host stands at the end of (hop texts).
    chain_of: HashMap<usize, Vec<String>>,
}

impl Planner {
    fn add(&mut self, h: NewHost) -> usize {
        let i = self.hosts.len();
        self.by_name.insert(h.name.clone(), i);
        self.hosts.push(h);
        self.jumps.push(None);
        i
    }

    /// The host standing for the last hop of `hops`, as OpenSSH reaches it: the
    /// first hop with its own settings (its own jump host included), each later one
    /// through the hops before it (which replace its own jump host). A hop that is an
    /// alias of the file is that alias's host when it reaches the same way; any other
    /// gets a jump-only host, named after the hop (and its way when that name is
    /// taken). `depth` counts first hops resolved within first hops.
    fn chain(
        &mut self,
        hops: &[JumpHop],
        chains: &HashMap<&str, &[JumpHop]>,
        resolve: &dyn Fn(&str) -> Result<Resolved, String>,
        from: &str,
        depth: usize,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "host `{from}`: its jump hosts go more than {MAX_DEPTH} deep (a loop?)"
            ));
        }
        let mut via: Option<usize> = None;
        let mut way: Vec<String> = Vec::new();
        for (k, hop) in hops.iter().enumerate() {
            let text = hop.to_string();
            let plain = hop.user.is_none() && hop.port.is_none();
            let alias = plain
                .then(|| self.by_name.get(&hop.host).copied())
                .flatten()
                .filter(|&i| !self.hosts[i].jump_only);
            let same_way =
                |own: &&[JumpHop]| own.iter().map(ToString::to_string).eq(way.iter().cloned());
            let at = match alias {
                Some(i) if k == 0 || chains.get(hop.host.as_str()).is_some_and(same_way) => i,
                _ => self.jump_only(hop, &text, &way, via, chains, resolve, depth)?,
            };
            way.push(text);
            via = Some(at);
        }
        via.ok_or_else(|| format!("host `{from}`: an empty ProxyJump chain"))
    }

    /// The jump-only host for `hop` reached through `way` (ending at `via`); a first
    /// hop (no way) reaches as its own settings say.
    #[allow(clippy::too_many_arguments)]
    fn jump_only(
        &mut self,
        hop: &JumpHop,
        text: &str,
        way: &[String],
        via: Option<usize>,
        chains: &HashMap<&str, &[JumpHop]>,
        resolve: &dyn Fn(&str) -> Result<Resolved, String>,
        depth: usize,
    ) -> Result<usize, String> {
        let other = if way.is_empty() {
            format!("{text} (jump host)")
        } else {
            format!("{text} via {}", way.join(","))
        };
        let mut name = None;
        for candidate in [text.to_owned(), other] {
            match self.by_name.get(&candidate) {
                None => {
                    name = Some(candidate);
                    break;
                }
                Some(&i)
                    if self.hosts[i].jump_only
                        && self.chain_of.get(&i).is_some_and(|c| c == way) =>
                {
                    return Ok(i);
                }
                Some(_) => {}
            }
        }
        let name = name.ok_or_else(|| {
            format!("the jump host `{text}` cannot be named: its names are taken by other hosts")
        })?;
        // The hop's host goes through the config, as `ssh -J` does; what the hop
        // says of user and port wins.
        let mut r = resolve(&hop.host)?;
        r.alias = name.clone();
        if let Some(u) = &hop.user {
            r.user = u.clone();
        }
        if let Some(p) = hop.port {
            r.port = p;
        }
        let own = std::mem::take(&mut r.proxy_jump_hops);
        if !way.is_empty() {
            // Reached through the hops before it, which replace its own way.
            r.proxy_command = None;
        }
        let i = self.add(host_of(&r, true)?);
        self.chain_of.insert(i, way.to_vec());
        self.jumps[i] = if way.is_empty() && !own.is_empty() {
            Some(self.chain(&own, chains, resolve, &name, depth + 1)?)
        } else {
            via
        };
        Ok(i)
    }

    /// Refuses jump hosts that come back to a host on the way.
    fn check_loops(&self) -> Result<(), String> {
        for start in 0..self.hosts.len() {
            let mut seen = vec![start];
            let mut at = start;
            while let Some(next) = self.jumps[at] {
                if seen.contains(&next) {
                    let names: Vec<&str> = seen
                        .iter()
                        .chain([&next])
                        .map(|&i| self.hosts[i].name.as_str())
                        .collect();
                    return Err(format!(
                        "host `{}`: its ProxyJump hosts form a loop ({})",
                        self.hosts[start].name,
                        names.join(" → ")
                    ));
                }
                seen.push(next);
                at = next;
            }
        }
        Ok(())
    }
}

/// How deep jump hosts may be resolved within jump hosts.
const MAX_DEPTH: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<ImportPlan, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        plan_import(&path, Resolver::Minke)
    }

    fn jump_of<'a>(p: &'a ImportPlan, name: &str) -> Option<&'a str> {
        let i = p.hosts.iter().position(|h| h.name == name)?;
        p.jumps[i].map(|j| p.hosts[j].name.as_str())
    }

    #[test]
    fn jump_forms_become_host_records() {
        let p = plan(
            "Host inner\n ProxyJump bastion\n\
             Host far\n ProxyJump admin@192.0.2.9:2022\n\
             Host deep\n ProxyJump bastion,gw\n\
             Host gw\n ProxyJump bastion\n\
             Host odd\n ProxyJump gw\n\
             Host bastion\n HostName 127.0.0.1\n User ops\n",
        )
        .unwrap();
        assert_eq!(jump_of(&p, "inner"), Some("bastion"));
        assert_eq!(jump_of(&p, "far"), Some("admin@192.0.2.9:2022"));
        let far = p
            .hosts
            .iter()
            .find(|h| h.name == "admin@192.0.2.9:2022")
            .unwrap();
        assert!(far.jump_only);
        assert_eq!(
            (far.hostname.as_deref(), far.port, far.username.as_deref()),
            (Some("192.0.2.9"), 2022, Some("admin"))
        );
        // gw reaches through bastion itself: the chain bastion,gw ends at gw.
        assert_eq!(jump_of(&p, "deep"), Some("gw"));
        assert_eq!(jump_of(&p, "gw"), Some("bastion"));
        assert_eq!(jump_of(&p, "odd"), Some("gw"));
        assert_eq!(p.jump_only(), 1);
    }

    #[test]
    fn a_chain_unlike_the_alias_own_gets_a_jump_only_host() {
        let p = plan("Host a\n ProxyJump x,b\nHost b\n HostName 127.0.0.2\nHost x\n").unwrap();
        assert_eq!(jump_of(&p, "a"), Some("b via x"));
        assert_eq!(jump_of(&p, "b via x"), Some("x"));
        assert!(
            p.hosts
                .iter()
                .find(|h| h.name == "b via x")
                .unwrap()
                .jump_only
        );
        let e = plan("Host a\n ProxyJump b\nHost b\n ProxyJump a\n").unwrap_err();
        assert!(e.contains("form a loop (a → b → a)"), "{e}");
    }

    #[test]
    fn a_first_hop_keeps_its_own_jump_host() {
        // OpenSSH reaches the first hop with its own settings: here through gw.
        let p = plan("Host a\n ProxyJump ops@10.0.0.9\nHost 10.0.0.*\n ProxyJump gw\nHost gw\n ProxyJump none\n").unwrap();
        assert_eq!(jump_of(&p, "a"), Some("ops@10.0.0.9"));
        assert_eq!(jump_of(&p, "ops@10.0.0.9"), Some("gw"));
        assert_eq!(jump_of(&p, "gw"), None);
    }
}
