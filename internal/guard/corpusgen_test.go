package guard

// The test corpus generator. `go generate` (or go test -run
// TestCorpusGolden -update) writes testdata/corpus/ from it; the tests
// check that the files are what it writes, then scan them.
//
// It knows the protected values of testdata/assets.txt itself (the ground
// truth below), independently of the guard: leaky objects carry one
// protected value in one encoding at one place; clean objects draw their
// values from spaces that exclude the protected ones, plus deliberate
// near-misses.

//go:generate go test -run TestCorpusGolden -update .

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"
)

// Ground truth: what assets.txt protects.
var (
	gtRanges = []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("192.0.2.64/26"),
		netip.MustParsePrefix("203.0.113.200/32"), netip.MustParsePrefix("2001:db8:ac3e::/48"),
		netip.MustParsePrefix("100.64.12.0/22"),
	}
	gtDomains = []string{"acme-corp.example", "globex.test", "bücher-kunde.example", "initech-internal.example"}
	gtNames   = []string{"Acme Corporation", "Globex", "Initech Systems", "Müller Präzisionstechnik", "北辰商事"}
	gtASNs    = []uint32{64500, 64511, 4200000001}
)

// leakCase is one leaky object and what must be found in it.
type leakCase struct {
	obj        map[string]any
	kind       Kind
	path       string
	form       string
	redactable bool // a free-text property of a report or note
	injected   string
}

type gen struct {
	r     *rand.Rand
	clock time.Time
	leaky []leakCase
	clean []map[string]any
	prior []string // ids blocked "earlier", for the reference cases
}

func newGen() *gen {
	return &gen{r: rand.New(rand.NewPCG(2026, 4)), clock: time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)}
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *gen) id(typ string) string { return typ + "--" + g.uuid() }

func (g *gen) ts() string {
	g.clock = g.clock.Add(time.Duration(g.r.IntN(7200)+1) * time.Second)
	return g.clock.Format("2006-01-02T15:04:05.000Z")
}

func (g *gen) sdo(typ string) map[string]any {
	t := g.ts()
	o := map[string]any{"type": typ, "spec_version": "2.1", "id": g.id(typ), "created": t, "modified": t}
	if g.r.IntN(3) > 0 {
		o["created_by_ref"] = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"
	}
	if g.r.IntN(2) == 0 {
		o["object_marking_refs"] = []any{g.pick(
			"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", // TLP:GREEN
			"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", // TLP:AMBER
			"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", // TLP:CLEAR
		)}
	}
	if g.r.IntN(2) == 0 {
		o["confidence"] = 10 * (g.r.IntN(10) + 1)
	}
	return o
}

func (g *gen) sco(typ string) map[string]any {
	return map[string]any{"type": typ, "spec_version": "2.1", "id": g.id(typ)}
}

// ---- clean values ---------------------------------------------------------

var (
	malwareNames = []string{"Emotet", "QakBot", "IcedID", "AsyncRAT", "Remcos", "Agent Tesla", "LockBit 3.0", "BlackCat", "Cobalt Strike", "Sliver", "PlugX", "ShadowPad", "RedLine Stealer", "Lumma Stealer", "DarkGate", "Pikabot", "SocGholish", "GootLoader", "Bumblebee", "Mirai", "Gafgyt", "XMRig", "Raspberry Robin", "Latrodectus", "Vidar", "NjRAT", "Formbook", "SystemBC", "Brute Ratel C4", "Havoc"}
	actorNames   = []string{"APT28", "APT29", "Lazarus Group", "FIN7", "TA505", "Scattered Spider", "Sandworm Team", "Turla", "Kimsuky", "MuddyWater", "Wizard Spider", "Volt Typhoon", "UNC3944", "TA577", "Storm-0558", "Evil Corp", "Gamaredon", "OilRig", "Charming Kitten", "Mustang Panda"}
	campaigns    = []string{"Operation Dream Job", "SolarWinds Compromise", "Operation Ghost", "Frozen Lake", "Black Basta wave", "Steal-It", "Operation Triangulation", "Midnight Blizzard spray", "Invoice Storm", "Parcel Notice", "Tax Season Lure", "Fake Browser Update"}
	techniques   = [][3]string{{"T1566.001", "Spearphishing Attachment", "initial-access"}, {"T1059.001", "PowerShell", "execution"}, {"T1071.001", "Web Protocols", "command-and-control"}, {"T1486", "Data Encrypted for Impact", "impact"}, {"T1190", "Exploit Public-Facing Application", "initial-access"}, {"T1078", "Valid Accounts", "defense-evasion"}, {"T1105", "Ingress Tool Transfer", "command-and-control"}, {"T1027", "Obfuscated Files or Information", "defense-evasion"}, {"T1003.001", "LSASS Memory", "credential-access"}, {"T1021.001", "Remote Desktop Protocol", "lateral-movement"}, {"T1547.001", "Registry Run Keys / Startup Folder", "persistence"}, {"T1204.002", "Malicious File", "execution"}, {"T1568.002", "Domain Generation Algorithms", "command-and-control"}, {"T1041", "Exfiltration Over C2 Channel", "exfiltration"}}
	cves         = []string{"CVE-2023-4966", "CVE-2024-3400", "CVE-2023-34362", "CVE-2021-44228", "CVE-2024-21887", "CVE-2023-22515", "CVE-2022-30190", "CVE-2023-23397", "CVE-2024-1709", "CVE-2023-46805", "CVE-2024-6387", "CVE-2023-20198", "CVE-2024-24919", "CVE-2023-27997"}
	words        = []string{"update", "secure", "cdn", "login", "cloud", "portal", "verify", "account", "service", "sync", "mail", "drive", "static", "assets", "track", "parcel", "invoice", "office", "docs", "wallet", "support", "auth", "api", "media", "news", "shop", "delivery", "pay", "bank", "micro", "soft", "data", "host", "node", "edge", "zone", "net", "web", "app", "box"}
	tlds         = []string{"com", "net", "org", "info", "xyz", "top", "ru", "cn", "io", "biz", "online", "site", "click", "live", "shop"}
	brands       = []string{"Microsoft", "DHL", "DocuSign", "PayPal", "Amazon", "Adobe", "FedEx", "Netflix", "WeTransfer", "Dropbox", "LinkedIn", "Zoom"}
	orgs         = []string{"Contoso CERT", "Fabrikam Telecom SOC", "Northwind Security Research", "Tailspin Hosting Abuse Desk", "Woodgrove Bank CSIRT", "Litware Incident Response", "Proseware Threat Lab", "Adatum Managed Detection"}
	sectors      = []string{"financial-services", "government", "healthcare", "technology", "telecommunications", "energy", "education", "manufacturing", "retail", "transportation"}
	countries    = []string{"DE", "FR", "NL", "US", "GB", "BR", "IN", "JP", "SG", "ZA", "PL", "ES", "IT", "SE", "KR"}

	// near-misses: they resemble protected values but are not
	nearIPs      = []string{"198.51.101.7", "198.51.99.255", "192.0.2.63", "192.0.2.128", "203.0.113.201", "203.0.113.199", "100.64.16.1", "100.64.11.255", "198.051.101.007", "::ffff:198.51.101.7", "0xC6336507", "3325256967", "2001:db8:ac3f::1", "2001:db8:ac3d:ffff::1", "198.51.101.0/24", "198.0.0.0/8", "0.0.0.0/0", "2001:db8:ac3f::/48", "2001::/16"}
	nearDomains  = []string{"acme-corp.example.evil.net", "notacme-corp.example", "acme-corp-example.com", "acmecorp.example", "acme-corp.examples.net", "login-acme-corp.example.co", "bucher-kunde.example", "xn--bcher-kunde-thb.example.phish.top", "initech-internal.example-cdn.net", "globexx.test", "myglobex.test", "acme-corp.example.evil.net:8443"}
	nearNames    = []string{"Globextra", "Globexia Labs", "Initechnology", "Initech", "Acme Corporations", "the ACME protocol", "Acme", "Corporation", "Müllerstraße", "Präzisionstechnikum", "北辰", "商事", "AcmeCorporationFans"}
	nearEmails   = []string{"j.smith@umbrella-mail.example", "jsmith+billing@umbrella-mail.example", "someone@acme-corp.example.evil.net", "ceo@holdings.example", "billing@umbrella-mail.example"}
	nearASNs     = []string{"AS64501", "AS64499", "AS645000", "AS6450", "AS4200000002", "ASN 64512"}
	nearIDs      = []string{"CUST-12345", "CUSTOMER-123456", "cust-123456", "NW-TKT-A1234", "NW-TKT-ab1234", "acmevpn-deadbee", "acmevpn-xyz12345"}
	nearAnything = [][]string{nearIPs, nearDomains, nearNames, nearEmails, nearASNs, nearIDs}
)

func (g *gen) protectedIP(ip netip.Addr) bool {
	for _, p := range gtRanges {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (g *gen) cleanIPv4() string {
	for {
		a := netip.AddrFrom4([4]byte{byte(1 + g.r.IntN(222)), byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(1 + g.r.IntN(254))})
		if a.IsPrivate() || a.IsLoopback() || g.protectedIP(a) || a.As4()[0] == 100 {
			continue
		}
		return a.String()
	}
}

func (g *gen) cleanIPv6() string {
	return fmt.Sprintf("2a0%d:%x:%x:%x::%x", g.r.IntN(10), g.r.IntN(0xffff), g.r.IntN(0xffff), g.r.IntN(0xffff), 1+g.r.IntN(0xfff))
}

func (g *gen) cleanDomain() string {
	d := g.pick(words...) + g.pick("-", "", "") + g.pick(words...) + "." + g.pick(tlds...)
	if g.r.IntN(3) == 0 {
		d = g.pick(words...) + "." + d
	}
	return d
}

func (g *gen) cleanURL() string {
	host := g.cleanDomain()
	if g.r.IntN(5) == 0 {
		host = g.cleanIPv4()
	}
	return fmt.Sprintf("%s://%s/%s/%s.%s", g.pick("http", "https"), host, g.pick(words...), g.pick(words...), g.pick("php", "js", "exe", "zip", "html", "dll"))
}

func (g *gen) hex(n int) string {
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return fmt.Sprintf("%x", b)
}

func (g *gen) cleanASN() uint32 {
	for {
		n := uint32(1 + g.r.IntN(400000))
		if n != 64500 && n != 64511 {
			return n
		}
	}
}

func (g *gen) near() string {
	xs := nearAnything[g.r.IntN(len(nearAnything))]
	return g.pick(xs...)
}

// cleanSentence is one sentence of analyst prose, sometimes with a near-miss.
func (g *gen) cleanSentence() string {
	s := g.pick(
		"%[1]s samples contacted %[2]s over HTTPS on port %[3]d.",
		"The actor %[4]s exploited %[5]s in edge devices and deployed %[1]s.",
		"Infrastructure at %[6]s (AS%[7]d) served payloads from %[8]s.",
		"Phishing mails from %[9]s impersonated %[10]s and linked to %[8]s.",
		"First seen %[11]s; %[3]d victims in the %[12]s sector.",
		"The loader writes %[13]s.dll (SHA-256 %[14]s) and runs it with rundll32.",
		"C2 traffic beacons every %[3]d seconds to %[2]s and %[6]s.",
		"We assess with moderate confidence that %[4]s operates %[1]s.",
		"Blocklists should include %[2]s, %[6]s and %[15]s.",
		"Exploitation of %[5]s was observed from %[6]s and %[15]s within hours of disclosure.",
		"Related activity: %[16]s.",
	)
	return fmt.Sprintf(s,
		g.pick(malwareNames...), g.cleanDomain(), 80+g.r.IntN(9000), g.pick(actorNames...), g.pick(cves...),
		g.cleanIPv4(), g.cleanASN(), g.cleanURL(), g.pick(words...)+"@"+g.cleanDomain(), g.pick(brands...),
		g.ts()[:10], g.pick(sectors...), g.pick(words...), g.hex(64), g.cleanIPv6(), g.near())
}

func (g *gen) cleanText(n int) string {
	var b []string
	for i := 0; i < n; i++ {
		b = append(b, g.cleanSentence())
	}
	return strings.Join(b, " ")
}

func (g *gen) cleanPattern() string {
	switch g.r.IntN(10) {
	case 0:
		return fmt.Sprintf("[ipv4-addr:value = '%s']", g.cleanIPv4())
	case 1:
		return fmt.Sprintf("[domain-name:value = '%s']", g.cleanDomain())
	case 2:
		return fmt.Sprintf("[url:value = '%s']", g.cleanURL())
	case 3:
		return fmt.Sprintf("[file:hashes.'SHA-256' = '%s']", g.hex(64))
	case 4:
		return fmt.Sprintf("[file:hashes.MD5 = '%s'] OR [file:name = '%s.exe']", g.hex(32), g.pick(words...))
	case 5:
		return fmt.Sprintf("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '%s' AND network-traffic:dst_port = %d]", g.cleanIPv4(), 1+g.r.IntN(65535))
	case 6:
		p, _ := netip.MustParseAddr(g.cleanIPv4()).Prefix(24)
		return fmt.Sprintf("[ipv4-addr:value ISSUBSET '%s']", p)
	case 7:
		return fmt.Sprintf("[email-addr:value = '%s@%s']", g.pick(words...), g.cleanDomain())
	case 8:
		return fmt.Sprintf("[process:command_line MATCHES '^powershell(\\\\.exe)? -enc [A-Za-z0-9+/=]{%d,}$']", 20+g.r.IntN(100))
	default:
		// a near-miss inside a pattern
		v := g.near()
		if strings.HasPrefix(v, "AS") {
			return fmt.Sprintf("[autonomous-system:number = %s]", strings.TrimLeft(v, "ASN "))
		}
		return fmt.Sprintf("[x-northwind-observable:value = '%s']", strings.ReplaceAll(v, "'", "\\'"))
	}
}

func (g *gen) extRefs() []any {
	var refs []any
	if g.r.IntN(2) == 0 {
		refs = append(refs, map[string]any{"source_name": "vendor-blog", "url": g.cleanURL(), "description": g.cleanSentence()})
	}
	if g.r.IntN(3) == 0 {
		t := techniques[g.r.IntN(len(techniques))]
		refs = append(refs, map[string]any{"source_name": "mitre-attack", "external_id": t[0], "url": "https://attack.mitre.org/techniques/" + strings.ReplaceAll(t[0], ".", "/") + "/"})
	}
	return refs
}

func (g *gen) decorate(o map[string]any) {
	if refs := g.extRefs(); len(refs) > 0 {
		o["external_references"] = refs
	}
	if g.r.IntN(3) == 0 {
		o["labels"] = []any{g.pick("crimeware", "apt", "phishing", "ransomware", "botnet", "c2")}
	}
	if g.r.IntN(4) == 0 {
		o["x_northwind_notes"] = g.cleanSentence()
	}
	if g.r.IntN(8) == 0 {
		o["x_northwind_context"] = []any{map[string]any{"k": "source", "v": g.pick("sinkhole", "honeypot", "telemetry", "partner-share")}, map[string]any{"k": "note", "v": g.near()}}
	}
	if g.r.IntN(10) == 0 {
		o["extensions"] = map[string]any{"extension-definition--3a3bc3e1-7c0a-4d23-9c43-5d1e1f5ec1a0": map[string]any{"extension_type": "property-extension", "sensor_count": g.r.IntN(500), "family_hint": g.pick(malwareNames...)}}
	}
}

// cleanObject returns one realistic, clean object (and the SCOs it needs).
func (g *gen) cleanObject() []map[string]any {
	switch g.r.IntN(16) {
	case 0, 1, 2:
		o := g.sdo("indicator")
		o["pattern"], o["pattern_type"], o["valid_from"] = g.cleanPattern(), "stix", g.ts()
		o["indicator_types"] = []any{g.pick("malicious-activity", "anomalous-activity", "attribution", "compromised")}
		o["name"] = g.pick(malwareNames...) + " " + g.pick("C2", "payload host", "dropper hash", "phishing sender", "download URL")
		if g.r.IntN(2) == 0 {
			o["description"] = g.cleanText(1 + g.r.IntN(2))
		}
		t := techniques[g.r.IntN(len(techniques))]
		o["kill_chain_phases"] = []any{map[string]any{"kill_chain_name": "mitre-attack", "phase_name": t[2]}}
		g.decorate(o)
		return []map[string]any{o}
	case 3:
		o := g.sdo("malware")
		o["name"], o["is_family"] = g.pick(malwareNames...), true
		o["malware_types"] = []any{g.pick("ransomware", "remote-access-trojan", "downloader", "spyware", "bot", "worm")}
		o["description"] = g.cleanText(2 + g.r.IntN(3))
		o["first_seen"] = g.ts()
		if g.r.IntN(2) == 0 {
			o["implementation_languages"] = []any{g.pick("c", "c++", "go", "rust", "python", "powershell")}
		}
		g.decorate(o)
		return []map[string]any{o}
	case 4:
		o := g.sdo("campaign")
		o["name"], o["description"], o["first_seen"], o["objective"] = g.pick(campaigns...), g.cleanText(2), g.ts(), g.pick("financial gain", "espionage", "credential theft")
		g.decorate(o)
		return []map[string]any{o}
	case 5:
		o := g.sdo("threat-actor")
		o["name"] = g.pick(actorNames...)
		o["threat_actor_types"] = []any{g.pick("nation-state", "crime-syndicate", "hacker", "criminal")}
		o["sophistication"], o["resource_level"], o["primary_motivation"] = g.pick("advanced", "expert", "intermediate"), g.pick("government", "organization", "team"), g.pick("organizational-gain", "personal-gain", "ideology")
		o["description"] = g.cleanText(2)
		o["aliases"] = []any{g.pick(actorNames...)}
		g.decorate(o)
		return []map[string]any{o}
	case 6:
		t := techniques[g.r.IntN(len(techniques))]
		o := g.sdo("attack-pattern")
		o["name"] = t[1]
		o["external_references"] = []any{map[string]any{"source_name": "mitre-attack", "external_id": t[0], "url": "https://attack.mitre.org/techniques/" + strings.ReplaceAll(t[0], ".", "/") + "/"}}
		o["kill_chain_phases"] = []any{map[string]any{"kill_chain_name": "mitre-attack", "phase_name": t[2]}}
		return []map[string]any{o}
	case 7:
		c := g.pick(cves...)
		o := g.sdo("vulnerability")
		o["name"], o["description"] = c, g.cleanText(1)
		o["external_references"] = []any{map[string]any{"source_name": "cve", "external_id": c}, map[string]any{"source_name": "nvd", "url": "https://nvd.nist.gov/vuln/detail/" + c}}
		return []map[string]any{o}
	case 8:
		o := g.sdo("report")
		o["name"] = g.pick(malwareNames...) + " activity, week " + fmt.Sprint(1+g.r.IntN(52))
		o["description"] = g.cleanText(3 + g.r.IntN(4))
		o["report_types"] = []any{g.pick("threat-report", "malware", "campaign", "attack-pattern")}
		o["published"] = g.ts()
		o["object_refs"] = []any{g.id("indicator"), g.id("malware")}
		g.decorate(o)
		return []map[string]any{o}
	case 9:
		o := g.sdo("note")
		o["abstract"], o["content"] = g.pick("Analyst comment", "Triage note", "Correlation"), g.cleanText(2)
		o["authors"] = []any{g.pick("analyst-17", "duty officer", "J. Doe")}
		o["object_refs"] = []any{g.id("indicator")}
		return []map[string]any{o}
	case 10:
		o := g.sdo("identity")
		o["name"], o["identity_class"] = g.pick(orgs...), "organization"
		o["sectors"] = []any{g.pick(sectors...)}
		return []map[string]any{o}
	case 11:
		// observed-data with its SCOs
		od := g.sdo("observed-data")
		ip := g.sco("ipv4-addr")
		ip["value"] = g.cleanIPv4()
		dom := g.sco("domain-name")
		dom["value"] = g.cleanDomain()
		as := g.sco("autonomous-system")
		as["number"], as["name"] = g.cleanASN(), strings.ToUpper(g.pick(words...))+"-NET"
		file := g.sco("file")
		file["name"] = g.pick(words...) + ".exe"
		file["size"] = 1024 + g.r.IntN(8<<20)
		file["hashes"] = map[string]any{"SHA-256": g.hex(64), "MD5": g.hex(32)}
		od["first_observed"], od["last_observed"], od["number_observed"] = g.ts(), g.ts(), 1+g.r.IntN(64500)
		od["object_refs"] = []any{ip["id"], dom["id"], as["id"], file["id"]}
		return []map[string]any{ip, dom, as, file, od}
	case 12:
		// an indicator, a malware and the relationship between them
		ind := g.sdo("indicator")
		ind["pattern"], ind["pattern_type"], ind["valid_from"] = g.cleanPattern(), "stix", g.ts()
		mal := g.sdo("malware")
		mal["name"], mal["is_family"] = g.pick(malwareNames...), true
		rel := g.sdo("relationship")
		rel["relationship_type"], rel["source_ref"], rel["target_ref"] = "indicates", ind["id"], mal["id"]
		return []map[string]any{ind, mal, rel}
	case 13:
		// a sighting at a non-customer identity
		who := g.sdo("identity")
		who["name"], who["identity_class"] = g.pick(orgs...), "organization"
		ind := g.sdo("indicator")
		ind["pattern"], ind["pattern_type"], ind["valid_from"] = g.cleanPattern(), "stix", g.ts()
		s := g.sdo("sighting")
		s["sighting_of_ref"], s["where_sighted_refs"], s["count"] = ind["id"], []any{who["id"]}, 1+g.r.IntN(500)
		s["first_seen"], s["last_seen"] = g.ts(), g.ts()
		if g.r.IntN(2) == 0 {
			s["description"] = g.cleanSentence()
		}
		return []map[string]any{who, ind, s}
	case 14:
		o := g.sdo("infrastructure")
		o["name"] = g.pick(malwareNames...) + " " + g.pick("C2 cluster", "staging server", "bulletproof hosting", "redirector")
		o["infrastructure_types"] = []any{g.pick("command-and-control", "staging", "hosting-malware", "botnet")}
		o["description"] = g.cleanText(2)
		g.decorate(o)
		return []map[string]any{o}
	default:
		switch g.r.IntN(5) {
		case 0:
			u := g.sco("url")
			u["value"] = g.cleanURL()
			return []map[string]any{u}
		case 1:
			e := g.sco("email-addr")
			e["value"] = g.pick(words...) + "." + g.pick(words...) + "@" + g.cleanDomain()
			return []map[string]any{e}
		case 2:
			v6 := g.sco("ipv6-addr")
			v6["value"] = g.cleanIPv6()
			return []map[string]any{v6}
		case 3:
			o := g.sdo("tool")
			o["name"], o["tool_types"] = g.pick("Mimikatz", "PsExec", "AdFind", "Rclone", "AnyDesk", "Impacket", "BloodHound"), []any{g.pick("credential-exploitation", "remote-access", "information-gathering")}
			o["description"] = g.cleanText(1)
			return []map[string]any{o}
		default:
			o := g.sdo("location")
			o["country"] = g.pick(countries...)
			o["description"] = g.cleanSentence()
			return []map[string]any{o}
		}
	}
}

// ---- leaky forms ----------------------------------------------------------

// form is one way of writing a protected value.
type form struct {
	name string
	kind Kind
	// text returns the written value; host reports a value that can stand
	// alone in a URL-like or SCO value property.
	text func(g *gen) string
	host bool
	// pattern is a STIX pattern with one %s for the (escaped) value.
	pattern string
	// patternOnly: the value means something only inside the pattern
	// (a bare AS number compared with autonomous-system:number).
	patternOnly bool
}

func (g *gen) protV4() netip.Addr {
	switch g.r.IntN(4) {
	case 0:
		return netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + g.r.IntN(254))})
	case 1:
		return netip.AddrFrom4([4]byte{192, 0, 2, byte(64 + g.r.IntN(64))})
	case 2:
		return netip.MustParseAddr("203.0.113.200")
	}
	return netip.AddrFrom4([4]byte{100, 64, byte(12 + g.r.IntN(4)), byte(g.r.IntN(256))})
}

func (g *gen) protV6() netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("2001:db8:ac3e:%x::%x", g.r.IntN(0xffff), 1+g.r.IntN(0xfff)))
}

func (g *gen) protDomain() string {
	d := g.pick(gtDomains...)
	if g.r.IntN(2) == 0 {
		d = g.pick("vpn", "mail", "portal", "sso", "intranet", "dev.api", "owa", "citrix", "backup01") + "." + d
	}
	return d
}

func v4parts(a netip.Addr) [4]byte { return a.As4() }

func fullwidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '.':
			b.WriteRune('．')
		case r > ' ' && r < 0x7f:
			b.WriteRune(r - 0x21 + 0xFF01)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func pct(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i%2 == 0 && s[i] != '.' {
			fmt.Fprintf(&b, "%%%02X", s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

var forms = []form{
	// IPv4
	{name: "ipv4", kind: KindCIDR, host: true, pattern: "[ipv4-addr:value = '%s']", text: func(g *gen) string { return g.protV4().String() }},
	{name: "ipv4-zero-padded", kind: KindCIDR, host: true, pattern: "[ipv4-addr:value = '%s']", text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf("%03d.%03d.%03d.%03d", p[0], p[1], p[2], p[3])
	}},
	{name: "ipv4-decimal", kind: KindCIDR, host: true, text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprint(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]))
	}},
	{name: "ipv4-hex", kind: KindCIDR, host: true, text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf(g.pick("0x%02X%02X%02X%02X", "0x%02x%02x%02x%02x"), p[0], p[1], p[2], p[3])
	}},
	{name: "ipv4-dotted-hex", kind: KindCIDR, host: true, text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf("0x%x.0x%x.0x%x.0x%x", p[0], p[1], p[2], p[3])
	}},
	{name: "ipv4-dotted-octal", kind: KindCIDR, host: true, text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf("0%o.0%o.0%o.0%o", p[0], p[1], p[2], p[3])
	}},
	{name: "ipv4-mapped", kind: KindCIDR, host: true, pattern: "[ipv6-addr:value = '%s']", text: func(g *gen) string { return "::ffff:" + g.protV4().String() }},
	{name: "ipv4-mapped-hex-expanded", kind: KindCIDR, host: true, pattern: "[ipv6-addr:value = '%s']", text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf("0000:0000:0000:0000:0000:FFFF:%02x%02x:%02x%02x", p[0], p[1], p[2], p[3])
	}},
	{name: "ipv4-nat64", kind: KindCIDR, host: true, pattern: "[ipv6-addr:value = '%s']", text: func(g *gen) string { return "64:ff9b::" + g.protV4().String() }},
	{name: "ipv4-6to4", kind: KindCIDR, host: true, pattern: "[ipv6-addr:value = '%s']", text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf("2002:%02x%02x:%02x%02x::1", p[0], p[1], p[2], p[3])
	}},
	{name: "ipv4-url", kind: KindCIDR, host: true, pattern: "[url:value = '%s']", text: func(g *gen) string {
		return fmt.Sprintf("%s://%s:%d/%s", g.pick("http", "https"), g.protV4(), 1024+g.r.IntN(60000), g.pick("gate.php", "admin/", "x.exe", ""))
	}},
	{name: "ipv4-hostport", kind: KindCIDR, host: true, text: func(g *gen) string { return fmt.Sprintf("%s:%d", g.protV4(), g.r.IntN(65535)+1) }},
	{name: "ipv4-defanged-last", kind: KindCIDR, host: true, text: func(g *gen) string {
		s := g.protV4().String()
		i := strings.LastIndexByte(s, '.')
		return s[:i] + "[.]" + s[i+1:]
	}},
	{name: "ipv4-defanged-all", kind: KindCIDR, host: true, text: func(g *gen) string {
		return strings.ReplaceAll(g.protV4().String(), ".", g.pick("[.]", "(.)", "{.}", "[dot]", "(dot)"))
	}},
	{name: "ipv4-defanged-url", kind: KindCIDR, host: true, text: func(g *gen) string {
		return g.pick("hxxp", "hXXps", "hxxps") + g.pick("://", "[://]", "[:]//") + strings.ReplaceAll(g.protV4().String(), ".", "[.]") + "/" + g.pick(words...)
	}},
	{name: "ipv4-cidr-subset", kind: KindCIDR, pattern: "[ipv4-addr:value ISSUBSET '%s']", text: func(g *gen) string {
		p, _ := g.protV4().Prefix(g.pick32(20, 24, 25, 26, 28, 30, 32))
		return p.String()
	}},
	{name: "ipv4-open-octet", kind: KindCIDR, text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf("%d.%d.%d.%s", p[0], p[1], p[2], g.pick("x", "*", "xxx"))
	}},
	{name: "ipv4-regex-escaped", kind: KindCIDR, pattern: "[ipv4-addr:value MATCHES '^%s$']", text: func(g *gen) string {
		return strings.ReplaceAll(g.protV4().String(), ".", `\.`)
	}},
	{name: "ipv4-reverse-dns", kind: KindCIDR, host: true, pattern: "[domain-name:value = '%s']", text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", p[3], p[2], p[1], p[0])
	}},
	{name: "ipv4-dashed-hostname", kind: KindCIDR, host: true, pattern: "[domain-name:value = '%s']", text: func(g *gen) string {
		p := v4parts(g.protV4())
		return fmt.Sprintf(g.pick("ip-%d-%d-%d-%d.ec2.internal", "%d-%d-%d-%d.static.isp.example", "host-%d-%d-%d-%d.dyn.example.net"), p[0], p[1], p[2], p[3])
	}},
	{name: "ipv4-percent-url", kind: KindCIDR, host: true, text: func(g *gen) string { return "http://" + pct(g.protV4().String()) + "/" }},
	{name: "ipv4-fullwidth", kind: KindCIDR, host: true, text: func(g *gen) string { return fullwidth(g.protV4().String()) }},
	{name: "ipv4-range-dash", kind: KindCIDR, text: func(g *gen) string {
		a := g.protV4()
		return a.String() + "-" + fmt.Sprint(v4parts(a)[3])
	}},
	// IPv6
	{name: "ipv6", kind: KindCIDR, host: true, pattern: "[ipv6-addr:value = '%s']", text: func(g *gen) string { return g.protV6().String() }},
	{name: "ipv6-expanded-upper", kind: KindCIDR, host: true, pattern: "[ipv6-addr:value = '%s']", text: func(g *gen) string { return strings.ToUpper(g.protV6().StringExpanded()) }},
	{name: "ipv6-url-port", kind: KindCIDR, host: true, pattern: "[url:value = '%s']", text: func(g *gen) string { return fmt.Sprintf("https://[%s]:%d/", g.protV6(), 1+g.r.IntN(65535)) }},
	{name: "ipv6-zone", kind: KindCIDR, host: true, text: func(g *gen) string { return g.protV6().String() + "%eth0" }},
	{name: "ipv6-cidr-subset", kind: KindCIDR, pattern: "[ipv6-addr:value ISSUBSET '%s']", text: func(g *gen) string {
		p, _ := g.protV6().Prefix(g.pick32(48, 56, 64, 96))
		return p.String()
	}},
	{name: "ipv6-defanged", kind: KindCIDR, host: true, text: func(g *gen) string { return strings.ReplaceAll(g.protV6().String(), ":", "[:]") }},
	// domains
	{name: "domain", kind: KindDomain, host: true, pattern: "[domain-name:value = '%s']", text: func(g *gen) string { return g.protDomain() }},
	{name: "domain-upper", kind: KindDomain, host: true, pattern: "[domain-name:value = '%s']", text: func(g *gen) string { return strings.ToUpper(g.protDomain()) }},
	{name: "domain-trailing-dot", kind: KindDomain, host: true, pattern: "[domain-name:value = '%s']", text: func(g *gen) string { return g.protDomain() + "." }},
	{name: "domain-url", kind: KindDomain, host: true, pattern: "[url:value = '%s']", text: func(g *gen) string {
		return fmt.Sprintf("https://%s/%s?id=%d", g.protDomain(), g.pick("login", "owa/auth", "remote/logon", "vpn/index.html"), g.r.IntN(1000))
	}},
	{name: "domain-url-userinfo-port", kind: KindDomain, host: true, pattern: "[url:value = '%s']", text: func(g *gen) string {
		return fmt.Sprintf("http://admin@%s:%d/", g.protDomain(), 1+g.r.IntN(65535))
	}},
	{name: "domain-defanged", kind: KindDomain, host: true, text: func(g *gen) string {
		return strings.ReplaceAll(g.protDomain(), ".", g.pick("[.]", "(.)", "{.}", "[dot]", "(dot)", " [dot] ", "[ . ]"))
	}},
	{name: "domain-defanged-url", kind: KindDomain, host: true, text: func(g *gen) string {
		return g.pick("hxxps", "hxxp", "hXXps") + g.pick("://", "[://]", "[:]//") + strings.ReplaceAll(g.protDomain(), ".", "[.]") + "/"
	}},
	{name: "domain-dot-word", kind: KindDomain, text: func(g *gen) string { return strings.ReplaceAll(g.protDomain(), ".", g.pick(" dot ", " DOT ")) }},
	{name: "domain-idn-unicode", kind: KindDomain, host: true, pattern: "[domain-name:value = '%s']", text: func(g *gen) string {
		return g.pick("bücher-kunde.example", "www.bücher-kunde.example", "BÜCHER-KUNDE.EXAMPLE")
	}},
	{name: "domain-idn-punycode", kind: KindDomain, host: true, pattern: "[domain-name:value = '%s']", text: func(g *gen) string { return g.pick("xn--bcher-kunde-thb.example", "shop.XN--BCHER-KUNDE-THB.example") }},
	{name: "domain-fullwidth-dots", kind: KindDomain, host: true, text: func(g *gen) string { return strings.ReplaceAll(g.protDomain(), ".", g.pick("．", "。", "｡")) }},
	{name: "domain-fullwidth", kind: KindDomain, host: true, text: func(g *gen) string { return fullwidth(strings.ToUpper(g.pick("acme-corp.example", "globex.test"))) }},
	{name: "domain-percent", kind: KindDomain, host: true, text: func(g *gen) string {
		return "https://" + pct(g.pick("acme-corp.example", "initech-internal.example")) + "/"
	}},
	{name: "domain-regex-escaped", kind: KindDomain, pattern: "[domain-name:value MATCHES '(^|\\\\.)%s$']", text: func(g *gen) string { return strings.ReplaceAll(g.protDomain(), ".", `\.`) }},
	{name: "domain-cjk-glued", kind: KindDomain, text: func(g *gen) string {
		return "请访问" + g.pick("acme-corp.example", "initech-internal.example") + "获取"
	}},
	{name: "domain-hostport", kind: KindDomain, host: true, text: func(g *gen) string { return fmt.Sprintf("%s:%d", g.protDomain(), 1+g.r.IntN(65535)) }},
	{name: "domain-unc-path", kind: KindDomain, text: func(g *gen) string {
		return `\\fs01.` + g.pick("acme-corp.example", "initech-internal.example") + `\share\finance`
	}},
	{name: "domain-srv-label", kind: KindDomain, host: true, text: func(g *gen) string { return "_dmarc." + g.pick("acme-corp.example", "initech-internal.example") }},
	// e-mail
	{name: "email", kind: KindEmail, host: true, pattern: "[email-addr:value = '%s']", text: func(g *gen) string {
		return g.pick("ceo@globex-holdings.example", "j.smith+billing@umbrella-mail.example", g.pick(words...)+"@acme-corp.example")
	}},
	{name: "email-upper", kind: KindEmail, host: true, pattern: "[email-addr:value = '%s']", text: func(g *gen) string {
		return strings.ToUpper(g.pick("ceo@globex-holdings.example", "j.smith+billing@umbrella-mail.example", "helpdesk@acme-corp.example"))
	}},
	{name: "email-subdomain", kind: KindEmail, host: true, text: func(g *gen) string {
		return g.pick(words...) + "@" + g.pick("mail", "eu", "corp") + ".acme-corp.example"
	}},
	{name: "email-mailto", kind: KindEmail, host: true, text: func(g *gen) string { return "mailto:" + g.pick("ceo@globex-holdings.example", "it@acme-corp.example") }},
	{name: "email-display-name", kind: KindEmail, text: func(g *gen) string {
		return "\"Office\" <" + g.pick("ceo@globex-holdings.example", "office@acme-corp.example") + ">"
	}},
	{name: "email-plus-tag", kind: KindEmail, host: true, text: func(g *gen) string { return "ceo+" + g.pick(words...) + "@globex-holdings.example" }},
	{name: "email-defanged", kind: KindEmail, text: func(g *gen) string {
		e := g.pick("ceo@globex-holdings.example", "j.smith+billing@umbrella-mail.example", "hr@acme-corp.example")
		e = strings.Replace(e, "@", g.pick("[at]", "(at)", "[@]", " [at] "), 1)
		return strings.ReplaceAll(e, ".", g.pick("[.]", "(.)", "."))
	}},
	{name: "email-percent", kind: KindEmail, host: true, text: func(g *gen) string {
		return "mailto:" + g.pick("ceo%40globex-holdings.example", "j.smith%2Bbilling%40umbrella-mail.example")
	}},
	{name: "email-mail-domain", kind: KindEmail, text: func(g *gen) string { return "all mail for @acme-corp.example" }},
	// names
	{name: "name", kind: KindName, pattern: "[x509-certificate:subject = 'CN=vpn, O=%s']", text: func(g *gen) string { return g.pick(gtNames...) }},
	{name: "name-case", kind: KindName, text: func(g *gen) string {
		n := g.pick(gtNames...)
		return g.pick(strings.ToUpper(n), strings.ToLower(n))
	}},
	{name: "name-whitespace", kind: KindName, text: func(g *gen) string {
		return strings.ReplaceAll(g.pick("Acme Corporation", "Initech Systems", "Müller Präzisionstechnik"), " ", g.pick("  ", "\t", "\n", " \u00a0 ", "   "))
	}},
	{name: "name-hyphen-underscore", kind: KindName, text: func(g *gen) string {
		return strings.ReplaceAll(g.pick("Acme Corporation", "Initech Systems"), " ", g.pick("-", "_", "."))
	}},
	{name: "name-joined", kind: KindName, text: func(g *gen) string { return g.pick("AcmeCorporation", "InitechSystems", "acmecorporation") }},
	{name: "name-possessive", kind: KindName, text: func(g *gen) string { return g.pick("Acme Corporation's", "Globex's", "Initech Systems'") }},
	{name: "name-fullwidth", kind: KindName, text: func(g *gen) string { return fullwidth(g.pick("Acme Corporation", "Globex")) }},
	{name: "name-cjk-in-sentence", kind: KindName, text: func(g *gen) string {
		return g.pick("北辰商事の社内ネットワーク", "对北辰商事的攻击")
	}},
	{name: "name-in-url", kind: KindName, text: func(g *gen) string {
		return "https://news.example/2025/" + g.pick("acme-corporation-breach", "globex-ransomware-attack")
	}},
	// AS numbers
	{name: "asn", kind: KindASN, text: func(g *gen) string { return fmt.Sprintf("AS%d", gtASNs[g.r.IntN(3)]) }},
	{name: "asn-spaced", kind: KindASN, text: func(g *gen) string {
		return fmt.Sprintf(g.pick("ASN %d", "AS %d", "ASN: %d", "AS#%d"), gtASNs[g.r.IntN(3)])
	}},
	{name: "asn-lower-dash", kind: KindASN, text: func(g *gen) string { return fmt.Sprintf(g.pick("as%d", "AS-%d", "asn%d"), gtASNs[g.r.IntN(3)]) }},
	{name: "asn-asdot", kind: KindASN, text: func(g *gen) string { return "AS64086.59905" }},
	{name: "asn-pattern", kind: KindASN, patternOnly: true, pattern: "[autonomous-system:number = %s]", text: func(g *gen) string { return fmt.Sprint(gtASNs[g.r.IntN(3)]) }},
	// internal identifiers
	{name: "regex-customer-id", kind: KindRegex, pattern: "[user-account:account_login = '%s']", text: func(g *gen) string { return fmt.Sprintf("CUST-%06d", g.r.IntN(1000000)) }},
	{name: "regex-ticket", kind: KindRegex, text: func(g *gen) string {
		return fmt.Sprintf("NW-TKT-%c%c%04d", 'A'+g.r.IntN(26), 'A'+g.r.IntN(26), g.r.IntN(10000))
	}},
	{name: "regex-vpn-case-insensitive", kind: KindRegex, host: true, text: func(g *gen) string {
		return g.pick("acmevpn-", "AcmeVPN-", "ACMEVPN-") + g.hex(8)
	}},
}

func (g *gen) pick32(xs ...int) int { return xs[g.r.IntN(len(xs))] }

// placement puts text into a fresh object and returns it, the JSON path
// of the text and whether the place is redactable free text.
type placement struct {
	name     string
	needHost bool // the text must be able to stand alone as the value
	put      func(g *gen, f *form, text string) (map[string]any, string, bool)
}

// sentence wraps text in prose, separated from it by characters that end
// a token.
func (g *gen) sentence(text string) string {
	pre := g.pick("Observed traffic to ", "The victim reported ", "Pivoting on ", "See ", "Context: ", "Seen: ", "")
	open, close := g.pick("", "", "(", "\"", "'", "<"), ""
	switch open {
	case "(":
		close = ")"
	case "\"", "'":
		close = open
	case "<":
		close = ">"
	}
	post := g.pick(" during the intrusion.", " yesterday", ", then lateral movement followed.", ".", "; escalated to tier 2.", "")
	return pre + open + text + close + post
}

var placements = []placement{
	{name: "indicator-pattern", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("indicator")
		pat := f.pattern
		if pat == "" {
			pat = "[x-northwind-observable:value = '%s']"
		}
		esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(text)
		o["pattern"], o["pattern_type"], o["valid_from"] = fmt.Sprintf(pat, esc), "stix", g.ts()
		return o, "pattern", false
	}},
	{name: "indicator-description", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("indicator")
		o["pattern"], o["pattern_type"], o["valid_from"] = fmt.Sprintf("[file:hashes.'SHA-256' = '%s']", g.hex(64)), "stix", g.ts()
		o["description"] = g.cleanSentence() + " " + g.sentence(text)
		return o, "description", false
	}},
	{name: "malware-description", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("malware")
		o["name"], o["is_family"], o["description"] = g.pick(malwareNames...), false, g.sentence(text)
		return o, "description", false
	}},
	{name: "report-description", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("report")
		o["name"], o["published"], o["object_refs"] = "Weekly summary", g.ts(), []any{g.id("indicator")}
		o["description"] = g.cleanSentence() + " " + g.sentence(text) + " " + g.cleanSentence()
		return o, "description", true
	}},
	{name: "report-name", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("report")
		o["name"], o["published"], o["object_refs"] = "Incident "+text+" follow-up", g.ts(), []any{g.id("indicator")}
		return o, "name", true
	}},
	{name: "note-content", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("note")
		o["abstract"], o["content"], o["object_refs"] = "Analyst comment", g.sentence(text)+"\n"+g.cleanSentence(), []any{g.id("indicator")}
		return o, "content", true
	}},
	{name: "note-abstract", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("note")
		o["abstract"], o["content"], o["object_refs"] = "Re: "+text, g.cleanSentence(), []any{g.id("indicator")}
		return o, "abstract", true
	}},
	{name: "external-reference-url", needHost: true, put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("campaign")
		o["name"], o["description"] = g.pick(campaigns...), g.cleanSentence()
		o["external_references"] = []any{map[string]any{"source_name": "vendor-blog", "url": g.cleanURL()}, map[string]any{"source_name": "partner-ticket", "url": text}}
		return o, "external_references[1].url", false
	}},
	{name: "external-reference-description", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("threat-actor")
		o["name"], o["threat_actor_types"] = g.pick(actorNames...), []any{"crime-syndicate"}
		o["external_references"] = []any{map[string]any{"source_name": "internal", "description": g.sentence(text)}}
		return o, "external_references[0].description", false
	}},
	{name: "extension-nested", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("infrastructure")
		o["name"], o["infrastructure_types"] = "C2 relay", []any{"command-and-control"}
		ext := "extension-definition--" + g.uuid()
		o["extensions"] = map[string]any{ext: map[string]any{"extension_type": "property-extension", "observed_hosts": []any{map[string]any{"value": g.cleanIPv4()}, map[string]any{"value": text, "first": g.ts()}}}}
		return o, "extensions." + ext + ".observed_hosts[1].value", false
	}},
	{name: "custom-property", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo(g.pick("intrusion-set", "campaign", "tool"))
		o["name"] = g.pick(actorNames...)
		o["x_northwind_notes"] = g.sentence(text)
		return o, "x_northwind_notes", false
	}},
	{name: "custom-nested-list", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("attack-pattern")
		o["name"] = techniques[g.r.IntN(len(techniques))][1]
		o["x_northwind_context"] = []any{map[string]any{"k": "source", "v": "telemetry"}, map[string]any{"k": "victim", "v": []any{"n/a", text}}}
		return o, "x_northwind_context[1].v[1]", false
	}},
	{name: "observed-data-embedded", needHost: true, put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("observed-data")
		o["first_observed"], o["last_observed"], o["number_observed"] = g.ts(), g.ts(), 1+g.r.IntN(10)
		o["objects"] = map[string]any{"0": map[string]any{"type": "x-northwind-host", "value": text}}
		return o, "objects.0.value", false
	}},
	{name: "sco-value", needHost: true, put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		typ := map[Kind]string{KindCIDR: "ipv4-addr", KindDomain: "domain-name", KindEmail: "email-addr"}[f.kind]
		if typ == "" {
			typ = "x-northwind-identifier"
		}
		if strings.Contains(text, "://") {
			typ = "url"
		}
		o := g.sco(typ)
		o["value"] = text
		return o, "value", false
	}},
	{name: "sighting-description", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("sighting")
		o["sighting_of_ref"], o["count"] = g.id("indicator"), 1+g.r.IntN(50)
		o["description"] = g.sentence(text)
		return o, "description", false
	}},
	{name: "vulnerability-description", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("vulnerability")
		o["name"] = g.pick(cves...)
		o["description"] = "Unpatched instance: " + g.sentence(text)
		return o, "description", false
	}},
	{name: "dictionary-key", needHost: true, put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("infrastructure")
		o["name"], o["infrastructure_types"] = "scanner pool", []any{"botnet"}
		o["x_hits_by_target"] = map[string]any{text: 1 + g.r.IntN(900)}
		return o, "x_hits_by_target.{key}", false
	}},
	{name: "labels", put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sdo("malware")
		o["name"], o["is_family"] = g.pick(malwareNames...), true
		o["labels"] = []any{"crimeware", text}
		return o, "labels[1]", false
	}},
	{name: "http-request-header", needHost: true, put: func(g *gen, f *form, text string) (map[string]any, string, bool) {
		o := g.sco("network-traffic")
		o["protocols"] = []any{"tcp", "http"}
		o["extensions"] = map[string]any{"http-request-ext": map[string]any{"request_method": "get", "request_value": "/", "request_header": map[string]any{"Host": text, "User-Agent": "Mozilla/5.0"}}}
		return o, "extensions.http-request-ext.request_header.Host", false
	}},
}

// leak adds leaky objects for every form, in several places each.
func (g *gen) leaks(perForm int) {
	for fi := range forms {
		f := &forms[fi]
		used := map[string]bool{}
		for n := 0; n < perForm; n++ {
			var p *placement
			for tries := 0; ; tries++ {
				p = &placements[g.r.IntN(len(placements))]
				if (p.needHost && !f.host) || (used[p.name] && tries < 20) {
					continue
				}
				break
			}
			if n == 0 && f.pattern != "" || f.patternOnly {
				p = &placements[0] // every form with a pattern shape appears in a pattern once
			}
			used[p.name] = true
			text := f.text(g)
			o, path, red := p.put(g, f, text)
			g.leaky = append(g.leaky, leakCase{obj: o, kind: f.kind, path: path, form: f.name + "@" + p.name, redactable: red, injected: text})
		}
	}
	// the ASN of an autonomous-system SCO, and in a property about ASNs
	for i := 0; i < 6; i++ {
		o := g.sco("autonomous-system")
		o["number"], o["name"] = gtASNs[i%3], "TRANSIT-"+fmt.Sprint(i)
		g.leaky = append(g.leaky, leakCase{obj: o, kind: KindASN, path: "number", form: "asn-sco-number"})
		o = g.sdo("infrastructure")
		o["name"], o["x_upstream_asn"] = "edge", gtASNs[i%3]
		g.leaky = append(g.leaky, leakCase{obj: o, kind: KindASN, path: "x_upstream_asn", form: "asn-custom-number"})
	}
	// a decimal address as a JSON number
	for i := 0; i < 4; i++ {
		o := g.sdo("infrastructure")
		p := v4parts(g.protV4())
		o["name"], o["x_target_int"] = "sensor", uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3])
		g.leaky = append(g.leaky, leakCase{obj: o, kind: KindCIDR, path: "x_target_int", form: "ipv4-json-number"})
	}
}

// refLeaks adds objects that reveal a customer only by reference, with
// the objects they refer to. Clean companions go to the clean corpus.
func (g *gen) refLeaks(n int) {
	for i := 0; i < n; i++ {
		// a customer identity and a sighting at it
		cust := g.sdo("identity")
		cust["name"], cust["identity_class"] = g.pick(gtNames...), "organization"
		ind := g.sdo("indicator")
		ind["pattern"], ind["pattern_type"], ind["valid_from"] = g.cleanPattern(), "stix", g.ts()
		other := g.sdo("identity")
		other["name"], other["identity_class"] = g.pick(orgs...), "organization"
		s := g.sdo("sighting")
		s["sighting_of_ref"], s["where_sighted_refs"], s["count"] = ind["id"], []any{other["id"], cust["id"]}, 3
		g.clean = append(g.clean, ind, other)
		g.leaky = append(g.leaky,
			leakCase{obj: cust, kind: KindName, path: "name", form: "name@identity-name"},
			leakCase{obj: s, kind: KindReference, path: "where_sighted_refs[1]", form: "ref@sighting-where-sighted"})

		// an address SCO, the observed-data listing it, a sighting of that
		ip := g.sco("ipv4-addr")
		ip["value"] = g.protV4().String()
		od := g.sdo("observed-data")
		od["first_observed"], od["last_observed"], od["number_observed"], od["object_refs"] = g.ts(), g.ts(), 2, []any{ip["id"]}
		s2 := g.sdo("sighting")
		s2["sighting_of_ref"], s2["observed_data_refs"] = ind["id"], []any{od["id"]}
		g.leaky = append(g.leaky,
			leakCase{obj: ip, kind: KindCIDR, path: "value", form: "ipv4@sco-for-refs"},
			leakCase{obj: od, kind: KindReference, path: "object_refs[0]", form: "ref@observed-data-object-refs"},
			leakCase{obj: s2, kind: KindReference, path: "observed_data_refs[0]", form: "ref@sighting-observed-data"})

		// a blocked indicator and a relationship from it to clean malware
		bad := g.sdo("indicator")
		bad["pattern"], bad["pattern_type"], bad["valid_from"] = fmt.Sprintf("[domain-name:value = '%s']", g.protDomain()), "stix", g.ts()
		mal := g.sdo("malware")
		mal["name"], mal["is_family"] = g.pick(malwareNames...), true
		rel := g.sdo("relationship")
		rel["relationship_type"], rel["source_ref"], rel["target_ref"] = "indicates", bad["id"], mal["id"]
		g.clean = append(g.clean, mal)
		g.leaky = append(g.leaky,
			leakCase{obj: bad, kind: KindDomain, path: "pattern", form: "domain@indicator-for-refs"},
			leakCase{obj: rel, kind: KindReference, path: "source_ref", form: "ref@relationship-source"})

		// a customer's infrastructure, its vulnerability (tied), the relationship
		infra := g.sdo("infrastructure")
		infra["name"], infra["description"] = "Exposed gateway", "Fortinet appliance at "+g.protV4().String()
		vuln := g.sdo("vulnerability")
		vuln["name"] = g.pick(cves...)
		has := g.sdo("relationship")
		has["relationship_type"], has["source_ref"], has["target_ref"] = "has", infra["id"], vuln["id"]
		g.leaky = append(g.leaky,
			leakCase{obj: infra, kind: KindCIDR, path: "description", form: "ipv4@infrastructure-for-refs"},
			leakCase{obj: has, kind: KindReference, path: "source_ref", form: "ref@relationship-has"},
			leakCase{obj: vuln, kind: KindReference, path: "", form: "ref@vulnerability-tied"})

		// observed-data tied by a relationship that names the customer
		od2 := g.sdo("observed-data")
		od2["first_observed"], od2["last_observed"], od2["number_observed"], od2["object_refs"] = g.ts(), g.ts(), 1, []any{g.id("file")}
		rel2 := g.sdo("relationship")
		rel2["relationship_type"], rel2["source_ref"], rel2["target_ref"] = "related-to", mal["id"], od2["id"]
		rel2["description"] = "Seen on " + g.pick(gtNames...) + " endpoints"
		g.leaky = append(g.leaky,
			leakCase{obj: rel2, kind: KindName, path: "description", form: "name@relationship-description"},
			leakCase{obj: od2, kind: KindReference, path: "", form: "ref@observed-data-tied"})

		// a sighting at an identity blocked in an earlier batch
		old := g.id("identity")
		g.prior = append(g.prior, old)
		s3 := g.sdo("sighting")
		s3["sighting_of_ref"], s3["where_sighted_refs"] = ind["id"], []any{old}
		g.leaky = append(g.leaky, leakCase{obj: s3, kind: KindReference, path: "where_sighted_refs[0]", form: "ref@sighting-prior-blocked"})
	}
}

// nearMisses puts every near-miss value, three times, into the same
// places the leaky objects use: none of them may be blocked.
func (g *gen) nearMisses() {
	sets := []struct {
		kind    Kind
		pattern string
		values  []string
	}{
		{KindCIDR, "[ipv4-addr:value = '%s']", nearIPs},
		{KindDomain, "[domain-name:value = '%s']", nearDomains},
		{KindName, "[x509-certificate:subject = 'CN=vpn, O=%s']", nearNames},
		{KindEmail, "[email-addr:value = '%s']", nearEmails},
		{KindASN, "[autonomous-system:name = '%s']", nearASNs},
		{KindRegex, "[user-account:account_login = '%s']", nearIDs},
	}
	for _, set := range sets {
		f := &form{kind: set.kind, pattern: set.pattern}
		for _, v := range set.values {
			for n := 0; n < 3; n++ {
				p := &placements[g.r.IntN(len(placements))]
				if n == 0 {
					p = &placements[0]
				}
				o, _, _ := p.put(g, f, v)
				g.clean = append(g.clean, o)
			}
		}
	}
}

// corpusFiles generates the corpus and returns the files' contents.
func corpusFiles() map[string][]byte {
	g := newGen()
	g.leaks(5)
	g.refLeaks(10)
	g.nearMisses()
	for len(g.clean) < 1400 {
		g.clean = append(g.clean, g.cleanObject()...)
	}
	enc := func(o map[string]any) []byte {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(o); err != nil {
			panic(err)
		}
		return b.Bytes()
	}
	var leaky, expect, clean, prior bytes.Buffer
	expect.WriteString("# line\tid\tkind\tpath\tform@placement\tredactable\tinjected\n")
	for i, c := range g.leaky {
		leaky.Write(enc(c.obj))
		fmt.Fprintf(&expect, "%d\t%s\t%s\t%s\t%s\t%v\t%q\n", i+1, c.obj["id"], c.kind, c.path, c.form, c.redactable, c.injected)
	}
	for _, o := range g.clean {
		clean.Write(enc(o))
	}
	for _, id := range g.prior {
		prior.WriteString(id + "\n")
	}
	return map[string][]byte{
		"testdata/corpus/leaky.jsonl": leaky.Bytes(),
		"testdata/corpus/leaky.tsv":   expect.Bytes(),
		"testdata/corpus/clean.jsonl": clean.Bytes(),
		"testdata/corpus/prior.txt":   prior.Bytes(),
	}
}
