//! The keywords of OpenSSH 9.2's client configuration: those Minke reads, and the
//! others it knows so it can say "not used" rather than "unknown".

/// A keyword, as far as Minke cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    Host,
    Match,
    Include,
    HostName,
    Port,
    User,
    IdentityFile,
    CertificateFile,
    ProxyJump,
    ProxyCommand,
    ForwardAgent,
    SetEnv,
    ServerAliveInterval,
    ServerAliveCountMax,
    StrictHostKeyChecking,
    UserKnownHostsFile,
    RequestTty,
    ConnectTimeout,
    BatchMode,
    CanonicalizeHostname,
    HostKeyAlias,
    IgnoreUnknown,
    /// `CanonicalDomains`: not used, but it means `ssh` may look names up in DNS.
    CanonicalDomains,
    /// A keyword OpenSSH knows and Minke does not use, by its documented spelling.
    Unused(&'static str),
}

/// Keywords OpenSSH 9.2 (Debian) accepts that Minke does not use, including the
/// deprecated and unsupported ones it ignores and the aliases it keeps.
const UNUSED: &[&str] = &[
    "AddKeysToAgent",
    "AddressFamily",
    "BindAddress",
    "BindInterface",
    "CanonicalizeFallbackLocal",
    "CanonicalizeMaxDots",
    "CanonicalizePermittedCNAMEs",
    "CASignatureAlgorithms",
    "ChallengeResponseAuthentication",
    "CheckHostIP",
    "Cipher",
    "Ciphers",
    "ClearAllForwardings",
    "Compression",
    "CompressionLevel",
    "ConnectionAttempts",
    "ControlMaster",
    "ControlPath",
    "ControlPersist",
    "DSAAuthentication",
    "DynamicForward",
    "EnableEscapeCommandline",
    "EnableSSHKeysign",
    "EscapeChar",
    "ExitOnForwardFailure",
    "FallBackToRsh",
    "FingerprintHash",
    "ForkAfterAuthentication",
    "ForwardX11",
    "ForwardX11Timeout",
    "ForwardX11Trusted",
    "GatewayPorts",
    "GlobalKnownHostsFile",
    "GlobalKnownHostsFile2",
    "GSSAPIAuthentication",
    "GSSAPIClientIdentity",
    "GSSAPIDelegateCredentials",
    "GSSAPIKexAlgorithms",
    "GSSAPIKeyExchange",
    "GSSAPIRenewalForcesRekey",
    "GSSAPIServerIdentity",
    "GSSAPITrustDns",
    "HashKnownHosts",
    "HostbasedAcceptedAlgorithms",
    "HostbasedAuthentication",
    "HostbasedKeyTypes",
    "HostKeyAlgorithms",
    "IdentitiesOnly",
    "IdentityAgent",
    "IdentityFile2",
    "IPQoS",
    "KbdInteractiveAuthentication",
    "KbdInteractiveDevices",
    "KeepAlive",
    "KerberosAuthentication",
    "KerberosTGTPassing",
    "KexAlgorithms",
    "KnownHostsCommand",
    "LocalCommand",
    "LocalForward",
    "LogLevel",
    "LogVerbose",
    "MACs",
    "NoHostAuthenticationForLocalhost",
    "NumberOfPasswordPrompts",
    "PasswordAuthentication",
    "PermitLocalCommand",
    "PermitRemoteOpen",
    "PKCS11Provider",
    "PreferredAuthentications",
    "Protocol",
    "ProxyUseFdpass",
    "PubkeyAcceptedAlgorithms",
    "PubkeyAcceptedKeyTypes",
    "PubkeyAuthentication",
    "RekeyLimit",
    "RemoteCommand",
    "RemoteForward",
    "RequiredRSASize",
    "RevokedHostKeys",
    "RhostsAuthentication",
    "RhostsRSAAuthentication",
    "RSAAuthentication",
    "SecurityKeyProvider",
    "SendEnv",
    "SessionType",
    "SKeyAuthentication",
    "SmartcardDevice",
    "StdinNull",
    "StreamLocalBindMask",
    "StreamLocalBindUnlink",
    "SyslogFacility",
    "TCPKeepAlive",
    "TISAuthentication",
    "Tunnel",
    "TunnelDevice",
    "UpdateHostKeys",
    "UseBlacklistedKeys",
    "UsePrivilegedPort",
    "UserKnownHostsFile2",
    "UseRoaming",
    "UseRsh",
    "VerifyHostKeyDNS",
    "VisualHostKey",
    "XAuthLocation",
    "AFSTokenPassing",
];

impl Keyword {
    /// The keyword for a lowercased name, `None` when OpenSSH 9.2 does not know it.
    pub(crate) fn lookup(lower: &str) -> Option<Keyword> {
        use Keyword::*;
        Some(match lower {
            "host" => Host,
            "match" => Match,
            "include" => Include,
            "hostname" => HostName,
            "port" => Port,
            "user" => User,
            "identityfile" => IdentityFile,
            "certificatefile" => CertificateFile,
            "proxyjump" => ProxyJump,
            "proxycommand" => ProxyCommand,
            "forwardagent" => ForwardAgent,
            "setenv" => SetEnv,
            // The last two are Debian's compatibility names.
            "serveraliveinterval" | "protocolkeepalives" | "setuptimeout" => ServerAliveInterval,
            "serveralivecountmax" => ServerAliveCountMax,
            "stricthostkeychecking" => StrictHostKeyChecking,
            "userknownhostsfile" => UserKnownHostsFile,
            "requesttty" => RequestTty,
            "connecttimeout" => ConnectTimeout,
            "batchmode" => BatchMode,
            "canonicalizehostname" => CanonicalizeHostname,
            "hostkeyalias" => HostKeyAlias,
            "ignoreunknown" => IgnoreUnknown,
            "canonicaldomains" => CanonicalDomains,
            _ => {
                return UNUSED
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(lower))
                    .map(|k| Unused(k));
            }
        })
    }

    /// The documented spelling.
    pub(crate) fn name(self) -> &'static str {
        use Keyword::*;
        match self {
            Host => "Host",
            Match => "Match",
            Include => "Include",
            HostName => "HostName",
            Port => "Port",
            User => "User",
            IdentityFile => "IdentityFile",
            CertificateFile => "CertificateFile",
            ProxyJump => "ProxyJump",
            ProxyCommand => "ProxyCommand",
            ForwardAgent => "ForwardAgent",
            SetEnv => "SetEnv",
            ServerAliveInterval => "ServerAliveInterval",
            ServerAliveCountMax => "ServerAliveCountMax",
            StrictHostKeyChecking => "StrictHostKeyChecking",
            UserKnownHostsFile => "UserKnownHostsFile",
            RequestTty => "RequestTTY",
            ConnectTimeout => "ConnectTimeout",
            BatchMode => "BatchMode",
            CanonicalizeHostname => "CanonicalizeHostname",
            HostKeyAlias => "HostKeyAlias",
            IgnoreUnknown => "IgnoreUnknown",
            CanonicalDomains => "CanonicalDomains",
            Unused(name) => name,
        }
    }
}

/// Every keyword name this table knows, in its documented spelling (for tests that
/// check the table against the installed `ssh`).
#[cfg(test)]
pub(crate) fn all_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = [
        "Host",
        "Match",
        "Include",
        "HostName",
        "Port",
        "User",
        "IdentityFile",
        "CertificateFile",
        "ProxyJump",
        "ProxyCommand",
        "ForwardAgent",
        "SetEnv",
        "ServerAliveInterval",
        "ProtocolKeepAlives",
        "SetupTimeOut",
        "ServerAliveCountMax",
        "StrictHostKeyChecking",
        "UserKnownHostsFile",
        "RequestTTY",
        "ConnectTimeout",
        "BatchMode",
        "CanonicalizeHostname",
        "HostKeyAlias",
        "IgnoreUnknown",
        "CanonicalDomains",
    ]
    .to_vec();
    names.extend(UNUSED);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_by_lowercase_name() {
        assert_eq!(Keyword::lookup("hostname"), Some(Keyword::HostName));
        assert_eq!(
            Keyword::lookup("setuptimeout"),
            Some(Keyword::ServerAliveInterval)
        );
        assert_eq!(
            Keyword::lookup("controlmaster"),
            Some(Keyword::Unused("ControlMaster"))
        );
        assert_eq!(Keyword::lookup("usekeychain"), None);
        for name in all_names() {
            assert!(
                Keyword::lookup(&name.to_ascii_lowercase()).is_some(),
                "{name}"
            );
        }
    }

    /// Every keyword of the table is one the installed OpenSSH knows, and a made-up
    /// one is not (so the test would notice a table out of step with `ssh`).
    #[test]
    fn table_agrees_with_installed_ssh() {
        let ssh = std::path::Path::new("/usr/bin/ssh");
        assert!(
            ssh.is_file(),
            "{} is missing: install openssh-client",
            ssh.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let unknown = |name: &str| {
            let file = dir.path().join("config");
            std::fs::write(&file, format!("Host never-resolved\n  {name} x\n")).unwrap();
            let out = std::process::Command::new(ssh)
                .args(["-G", "-F"])
                .arg(&file)
                .arg("a")
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stderr).contains("Bad configuration option")
        };
        assert!(unknown("NoSuchKeywordAnywhere"));
        let refused: Vec<&str> = all_names().into_iter().filter(|n| unknown(n)).collect();
        assert!(refused.is_empty(), "ssh does not know {refused:?}");
    }
}
