package stix

// Vocabularies and enumerations of STIX 2.1 section 10. An enumeration
// (…-enum) is closed: a value outside it breaks a MUST and Validate rejects
// it. An open vocabulary (…-ov) only says which values SHOULD be used, so a
// value outside it is a Lint warning.

type set map[string]struct{}

func newSet(vals ...string) set {
	s := make(set, len(vals))
	for _, v := range vals {
		s[v] = struct{}{}
	}
	return s
}

func (s set) has(v string) bool { _, ok := s[v]; return ok }

// vocab is a named value set; open says whether it is an open vocabulary.
type vocab struct {
	name string
	open bool
	vals set
}

func ov(name string, vals ...string) *vocab {
	return &vocab{name: name, open: true, vals: newSet(vals...)}
}
func enum(name string, vals ...string) *vocab { return &vocab{name: name, vals: newSet(vals...)} }

var (
	vAccountType = ov("account-type-ov", "facebook", "ldap", "nis", "openid", "radius", "skype",
		"tacacs", "twitter", "unix", "windows-local", "windows-domain")
	vAttackMotivation = ov("attack-motivation-ov", "accidental", "coercion", "dominance", "ideology",
		"notoriety", "organizational-gain", "personal-gain", "personal-satisfaction", "revenge", "unpredictable")
	vResourceLevel = ov("attack-resource-level-ov", "individual", "club", "contest", "team",
		"organization", "government")
	vGroupingContext = ov("grouping-context-ov", "suspicious-activity", "malware-analysis", "unspecified")
	vHashAlgorithm   = ov("hash-algorithm-ov", "MD5", "SHA-1", "SHA-256", "SHA-512", "SHA3-256",
		"SHA3-512", "SSDEEP", "TLSH")
	vIdentityClass = ov("identity-class-ov", "individual", "group", "system", "organization", "class", "unknown")
	vImplLanguage  = ov("implementation-language-ov", "applescript", "bash", "c", "c++", "c#", "go",
		"java", "javascript", "lua", "objective-c", "perl", "php", "powershell", "python", "ruby",
		"scala", "swift", "typescript", "visual-basic", "x86-32", "x86-64")
	vIndicatorType = ov("indicator-type-ov", "anomalous-activity", "anonymization", "benign",
		"compromised", "malicious-activity", "attribution", "unknown")
	vIndustrySector = ov("industry-sector-ov", "agriculture", "aerospace", "automotive", "chemical",
		"commercial", "communications", "construction", "defense", "education", "energy",
		"entertainment", "financial-services", "government", "emergency-services",
		"government-national", "government-regional", "government-local",
		"government-public-services", "healthcare", "hospitality-leisure", "infrastructure", "dams",
		"nuclear", "water", "insurance", "manufacturing", "mining", "non-profit", "pharmaceuticals",
		"retail", "technology", "telecommunications", "transportation", "utilities")
	vInfrastructureType = ov("infrastructure-type-ov", "amplification", "anonymization", "botnet",
		"command-and-control", "control-system", "exfiltration", "firewall", "hosting-malware",
		"hosting-target-lists", "phishing", "reconnaissance", "routers-switches", "staging",
		"workstation", "unknown")
	vMalwareResult       = ov("malware-result-ov", "malicious", "suspicious", "benign", "unknown")
	vMalwareCapabilities = ov("malware-capabilities-ov", "accesses-remote-machines", "anti-debugging",
		"anti-disassembly", "anti-emulation", "anti-memory-forensics", "anti-sandbox", "anti-vm",
		"captures-input-peripherals", "captures-output-peripherals", "captures-system-state-data",
		"cleans-traces-of-infection", "commits-fraud", "communicates-with-c2",
		"compromises-data-availability", "compromises-data-integrity",
		"compromises-system-availability", "controls-local-machine", "degrades-security-software",
		"degrades-system-updates", "determines-c2-server", "emails-spam", "escalates-privileges",
		"evades-av", "exfiltrates-data", "fingerprints-host", "hides-artifacts",
		"hides-executing-code", "infects-files", "infects-remote-machines",
		"installs-other-components", "persists-after-system-reboot", "prevents-artifact-access",
		"prevents-artifact-deletion", "probes-network-environment", "self-modifies",
		"steals-authentication-credentials", "violates-system-operational-integrity")
	vMalwareType = ov("malware-type-ov", "adware", "backdoor", "bot", "bootkit", "ddos", "downloader",
		"dropper", "exploit-kit", "keylogger", "ransomware", "remote-access-trojan",
		"resource-exploitation", "rogue-security-software", "rootkit", "screen-capture", "spyware",
		"trojan", "unknown", "virus", "webshell", "wiper", "worm")
	vPatternType   = ov("pattern-type-ov", "stix", "pcre", "sigma", "snort", "suricata", "yara")
	vProcessorArch = ov("processor-architecture-ov", "alpha", "arm", "ia-64", "mips", "powerpc",
		"sparc", "x86", "x86-64")
	vRegion = ov("region-ov", "africa", "eastern-africa", "middle-africa", "northern-africa",
		"southern-africa", "western-africa", "americas", "latin-america-caribbean", "south-america",
		"caribbean", "central-america", "northern-america", "asia", "central-asia", "eastern-asia",
		"southern-asia", "south-eastern-asia", "western-asia", "europe", "eastern-europe",
		"northern-europe", "southern-europe", "western-europe", "oceania", "antarctica",
		"australia-new-zealand", "melanesia", "micronesia", "polynesia")
	vReportType = ov("report-type-ov", "attack-pattern", "campaign", "identity", "indicator",
		"intrusion-set", "malware", "observed-data", "threat-actor", "threat-report", "tool",
		"vulnerability")
	vThreatActorType = ov("threat-actor-type-ov", "activist", "competitor", "crime-syndicate",
		"criminal", "hacker", "insider-accidental", "insider-disgruntled", "nation-state",
		"sensationalist", "spy", "terrorist", "unknown")
	vThreatActorRole = ov("threat-actor-role-ov", "agent", "director", "independent",
		"infrastructure-architect", "infrastructure-operator", "malware-author", "sponsor")
	vSophistication = ov("threat-actor-sophistication-ov", "none", "minimal", "intermediate",
		"advanced", "expert", "innovator", "strategic")
	vToolType = ov("tool-type-ov", "denial-of-service", "exploitation", "information-gathering",
		"network-capture", "credential-exploitation", "remote-access", "vulnerability-scanning", "unknown")
	vPEType = ov("windows-pebinary-type-ov", "dll", "exe", "sys")

	eEncryptionAlgorithm = enum("encryption-algorithm-enum", "AES-256-GCM", "ChaCha20-Poly1305",
		"mime-type-indicated")
	eExtensionType = enum("extension-type-enum", "new-sdo", "new-sco", "new-sro",
		"property-extension", "toplevel-property-extension")
	eAddressFamily = enum("network-socket-address-family-enum", "AF_UNSPEC", "AF_INET", "AF_IPX",
		"AF_APPLETALK", "AF_NETBIOS", "AF_INET6", "AF_IRDA", "AF_BTH")
	eSocketType = enum("network-socket-type-enum", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW",
		"SOCK_RDM", "SOCK_SEQPACKET")
	eOpinion        = enum("opinion-enum", "strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
	eIntegrityLevel = enum("windows-integrity-level-enum", "low", "medium", "high", "system")
	eRegistryType   = enum("windows-registry-datatype-enum", "REG_NONE", "REG_SZ", "REG_EXPAND_SZ",
		"REG_BINARY", "REG_DWORD", "REG_DWORD_BIG_ENDIAN", "REG_DWORD_LITTLE_ENDIAN", "REG_LINK",
		"REG_MULTI_SZ", "REG_RESOURCE_LIST", "REG_FULL_RESOURCE_DESCRIPTION",
		"REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD", "REG_INVALID_TYPE")
	eServiceStart = enum("windows-service-start-type-enum", "SERVICE_AUTO_START",
		"SERVICE_BOOT_START", "SERVICE_DEMAND_START", "SERVICE_DISABLED", "SERVICE_SYSTEM_ALERT")
	eServiceType = enum("windows-service-type-enum", "SERVICE_KERNEL_DRIVER",
		"SERVICE_FILE_SYSTEM_DRIVER", "SERVICE_WIN32_OWN_PROCESS", "SERVICE_WIN32_SHARE_PROCESS")
	eServiceStatus = enum("windows-service-status-enum", "SERVICE_CONTINUE_PENDING",
		"SERVICE_PAUSE_PENDING", "SERVICE_PAUSED", "SERVICE_RUNNING", "SERVICE_START_PENDING",
		"SERVICE_STOP_PENDING", "SERVICE_STOPPED")
	// Statement and TLP are the two marking definition types of section 7.2.1.
	vMarkingType = ov("marking definition type", "statement", "tlp")
)
