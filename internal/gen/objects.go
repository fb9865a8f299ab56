package gen

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

const day = int64(24 * 60 * 60 * 1000)

var (
	orgNames = []string{"Northwind Threat Research", "Contoso Telecom CERT", "Fabrikam Network Security", "Tailspin Backbone Operations", "Woodgrove Bank SOC", "Litware Labs", "Adatum Cyber Defence", "Proseware Incident Response"}
	sectors  = []string{"technology", "telecommunications", "financial-services", "government-national", "defense", "energy", "healthcare", "manufacturing"}

	words = []string{"secure", "update", "cdn", "cloud", "mail", "login", "portal", "account", "verify", "service", "office", "drive", "sync", "auth", "static", "files", "support", "news", "online", "bank", "pay", "track", "shop", "help", "data", "api", "web", "app", "docs", "share"}
	tlds  = []string{"com", "net", "org", "info", "biz", "ru", "cn", "top", "xyz", "io", "cc", "co", "online", "site"}
	paths = []string{"gate.php", "index.php", "admin/login", "wp-content/uploads", "download", "invoice", "payload.bin", "update.exe", "doc/view", "c2/beacon", "api/v1/report", "panel"}
	files = []string{"invoice.exe", "report.pdf.exe", "update.dll", "setup.msi", "scan_0231.zip", "payroll.xlsm", "document.lnk", "svchost.exe", "loader.ps1", "readme.hta"}

	families   = []string{"Emotet", "TrickBot", "QakBot", "IcedID", "Dridex", "AgentTesla", "FormBook", "LockBit", "BlackCat", "Conti", "RedLine", "Raccoon", "CobaltStrike", "PlugX", "ShadowPad", "Ursnif", "Remcos", "AsyncRAT", "NjRAT", "SmokeLoader"}
	malwareVoc = []string{"backdoor", "bot", "downloader", "dropper", "keylogger", "ransomware", "remote-access-trojan", "spyware", "trojan", "worm", "exploit-kit", "rootkit"}
	actorNames = []string{"Crimson", "Obsidian", "Cobalt", "Amber", "Silent", "Iron", "Velvet", "Shadow", "Granite", "Scarlet", "Frost", "Onyx"}
	actorNoun  = []string{"Spider", "Typhoon", "Panda", "Bear", "Kitten", "Chollima", "Tempest", "Sandstorm", "Blizzard", "Sleet", "Hail", "Lynx"}
	actorTypes = []string{"crime-syndicate", "criminal", "hacker", "nation-state", "spy", "terrorist", "unknown"}
	sophist    = []string{"intermediate", "advanced", "expert", "innovator", "strategic"}
	resources  = []string{"individual", "club", "contest", "team", "organization", "government"}
	motives    = []string{"personal-gain", "organizational-gain", "ideology", "dominance", "notoriety", "coercion"}
	goals      = []string{"steal payment card data", "extort victims", "gain access to telecom backbones", "steal credentials", "espionage against governments"}
	techniques = []string{"Spearphishing Attachment", "Spearphishing Link", "Exploit Public-Facing Application", "Command and Scripting Interpreter", "Scheduled Task", "Process Injection", "Credential Dumping", "Remote Services", "Data Encrypted for Impact", "Exfiltration Over C2 Channel", "Web Protocols", "Ingress Tool Transfer"}
	phases     = []string{"reconnaissance", "resource-development", "initial-access", "execution", "persistence", "privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement", "collection", "command-and-control", "exfiltration", "impact"}
	lmPhases   = []string{"reconnaissance", "weaponization", "delivery", "exploitation", "installation", "command-and-control", "actions-on-objectives"}
	campaigns  = []string{"Operation Nightfall", "Operation Glass Door", "Operation Red Harbour", "Operation Tin Whistle", "Operation Dark Meridian", "Operation Salt Road"}
	ipv6Nets   = []string{"2001:db8", "2a01:4f8", "2604:a880", "2a03:b0c0", "2001:67c", "2a0e:97c0"}
)

func pick(g *Generator, xs []string) string { return xs[g.rng.IntN(len(xs))] }

// ---- observable values ----

func (g *Generator) ipv4() string {
	first := 1 + g.rng.IntN(222)
	for first == 10 || first == 127 || first == 100 || first == 169 || first == 172 || first == 192 {
		first = 1 + g.rng.IntN(222)
	}
	return fmt.Sprintf("%d.%d.%d.%d", first, g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
}

func (g *Generator) cidr4() string {
	if g.rng.IntN(4) == 0 {
		return fmt.Sprintf("%d.%d.0.0/16", 1+g.rng.IntN(222), g.rng.IntN(256))
	}
	return fmt.Sprintf("%d.%d.%d.0/24", 1+g.rng.IntN(222), g.rng.IntN(256), g.rng.IntN(256))
}

func (g *Generator) ipv6() string {
	return fmt.Sprintf("%s:%x:%x::%x", pick(g, ipv6Nets), g.rng.IntN(0x10000), g.rng.IntN(0x10000), 1+g.rng.IntN(0xffff))
}

func (g *Generator) domain() string {
	d := pick(g, words) + "-" + pick(g, words) + strconv.Itoa(g.rng.IntN(1000)) + "." + pick(g, tlds)
	if g.rng.IntN(3) == 0 {
		d = pick(g, words) + "." + d
	}
	return d
}

func (g *Generator) url() string {
	scheme := "http"
	if g.rng.IntN(2) == 0 {
		scheme = "https"
	}
	u := scheme + "://" + g.domain() + "/" + pick(g, paths)
	if g.rng.IntN(3) == 0 {
		u += "?id=" + strconv.Itoa(g.rng.IntN(100000))
	}
	return u
}

func (g *Generator) email() string {
	return pick(g, words) + "." + pick(g, words) + strconv.Itoa(g.rng.IntN(100)) + "@" + g.domain()
}

func (g *Generator) hexStr(n int) string {
	b := make([]byte, n/2+8)
	for i := 0; i < n/2; i += 8 {
		v := g.rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return hex.EncodeToString(b[:n/2])
}

// ---- markings and producers ----

func (g *Generator) markingRefs() []string {
	var tlp string
	switch r := g.rng.IntN(100); {
	case r < 20:
		tlp = TLPClear
	case r < 60:
		tlp = TLPGreen
	case r < 82:
		tlp = TLPAmber
	case r < 87:
		tlp = TLPAmberStrict
	case r < 92:
		tlp = TLPRed
	case r < 96:
		tlp = TLP1Green
	default:
		tlp = TLP1Amber
	}
	if g.marking != "" && g.rng.IntN(10) == 0 {
		return []string{tlp, g.marking}
	}
	return []string{tlp}
}

func (g *Generator) producer() string {
	// The first identity is the hub; partners produce most content.
	return g.identities[g.rng.IntN(len(g.identities))]
}

// sdo starts an SDO or SRO with the common properties.
func (g *Generator) sdo(typ, id, producer string, created, modified int64) *obj {
	o := newObj(typ, id)
	o.str("created_by_ref", producer)
	o.ts("created", created)
	o.ts("modified", modified)
	return o
}

// back returns a time up to maxDays before the clock, never before Start.
func (g *Generator) back(maxDays int) int64 {
	t := g.clock - g.rng.Int64N(int64(maxDays)*day+1)
	if s := Start.UnixMilli(); t < s {
		t = s
	}
	return t
}

// ---- SDOs ----

// identity writes an organisation. The first ones (from the preamble) are
// the producers of everything else; later ones are targets and victims.
func (g *Generator) identity() []byte {
	id := g.id("identity")
	n := g.nIdentities
	g.nIdentities++
	name := orgNames[n%len(orgNames)]
	if n >= len(orgNames) {
		name += " " + strconv.Itoa(n/len(orgNames)+1)
	}
	o := newObj("identity", id)
	o.ts("created", g.clock)
	o.ts("modified", g.clock)
	o.str("name", name)
	o.str("identity_class", "organization")
	o.strs("sectors", pick(g, sectors))
	o.str("contact_information", "cert@"+strings.ToLower(strings.Fields(name)[0])+".example")
	if len(g.identities) < producers {
		g.identities = append(g.identities, id)
	} else {
		g.victims.add(id)
	}
	return o.done()
}

func (g *Generator) statementMarking() []byte {
	id := g.id("marking-definition")
	o := newObj("marking-definition", id)
	o.str("created_by_ref", g.identities[0])
	o.ts("created", g.clock)
	o.str("name", "Fusion partner sharing agreement")
	o.str("definition_type", "statement")
	o.raw("definition", `{"statement":"Shared under the Fusion partner agreement. Do not forward outside law enforcement."}`)
	g.marking = id
	return o.done()
}

func (g *Generator) attackPattern() []byte {
	id := g.id("attack-pattern")
	created := g.back(400)
	o := g.sdo("attack-pattern", id, g.producer(), created, g.clock)
	o.str("name", pick(g, techniques))
	o.raw("external_references", fmt.Sprintf(`[{"source_name":"capec","external_id":"CAPEC-%d"}]`, 1+g.rng.IntN(700)))
	o.raw("kill_chain_phases", fmt.Sprintf(`[{"kill_chain_name":"mitre-attack","phase_name":%q}]`, pick(g, phases)))
	o.strs("object_marking_refs", g.markingRefs()...)
	g.attackPats.add(id)
	return o.done()
}

func (g *Generator) vulnerability() []byte {
	id := g.id("vulnerability")
	cve := fmt.Sprintf("CVE-%d-%d", 2018+g.rng.IntN(7), 1000+g.rng.IntN(50000))
	o := g.sdo("vulnerability", id, g.producer(), g.back(200), g.clock)
	o.str("name", cve)
	o.raw("external_references", fmt.Sprintf(`[{"source_name":"cve","external_id":%q}]`, cve))
	o.strs("object_marking_refs", g.markingRefs()...)
	g.vulns.add(id)
	return o.done()
}

func (g *Generator) malwareSDO() []byte {
	id := g.id("malware")
	fam := pick(g, families)
	o := g.sdo("malware", id, g.producer(), g.back(90), g.clock)
	o.str("name", fam)
	o.str("description", fam+" variant tracked by partner telemetry.")
	o.strs("malware_types", pick(g, malwareVoc))
	o.bool("is_family", true)
	o.strs("aliases", strings.ToLower(fam)+"-"+strconv.Itoa(g.rng.IntN(100)))
	o.ts("first_seen", g.back(365))
	o.raw("kill_chain_phases", fmt.Sprintf(`[{"kill_chain_name":"lockheed-martin-cyber-kill-chain","phase_name":%q}]`, pick(g, lmPhases)))
	o.raw("external_references", fmt.Sprintf(`[{"source_name":"partner-report","url":"https://research.example/reports/%d","description":"%s analysis"}]`, g.rng.IntN(100000), fam))
	o.int("confidence", int64(50+g.rng.IntN(51)))
	o.strs("object_marking_refs", g.markingRefs()...)
	g.malware.add(id)
	return o.done()
}

func (g *Generator) threatActor() []byte {
	id := g.id("threat-actor")
	name := pick(g, actorNames) + " " + pick(g, actorNoun)
	o := g.sdo("threat-actor", id, g.producer(), g.back(180), g.clock)
	o.str("name", name)
	o.strs("threat_actor_types", pick(g, actorTypes))
	o.strs("aliases", strings.ReplaceAll(strings.ToUpper(name), " ", "-")+"-"+strconv.Itoa(g.rng.IntN(100)))
	o.strs("roles", "agent")
	o.strs("goals", pick(g, goals))
	o.str("sophistication", pick(g, sophist))
	o.str("resource_level", pick(g, resources))
	o.str("primary_motivation", pick(g, motives))
	o.ts("first_seen", g.back(700))
	o.strs("object_marking_refs", g.markingRefs()...)
	g.actors.add(id)
	return o.done()
}

func (g *Generator) intrusionSet() []byte {
	id := g.id("intrusion-set")
	o := g.sdo("intrusion-set", id, g.producer(), g.back(180), g.clock)
	o.str("name", fmt.Sprintf("UNC%d", 1000+g.rng.IntN(5000)))
	o.strs("goals", pick(g, goals))
	o.str("resource_level", pick(g, resources))
	o.str("primary_motivation", pick(g, motives))
	o.ts("first_seen", g.back(700))
	o.strs("object_marking_refs", g.markingRefs()...)
	g.sets.add(id)
	return o.done()
}

func (g *Generator) campaign() []byte {
	id := g.id("campaign")
	first := g.back(120)
	o := g.sdo("campaign", id, g.producer(), first, g.clock)
	o.str("name", pick(g, campaigns)+" "+strconv.Itoa(g.rng.IntN(100)))
	o.str("objective", pick(g, goals))
	o.ts("first_seen", first)
	o.ts("last_seen", g.clock)
	o.strs("object_marking_refs", g.markingRefs()...)
	g.campaigns.add(id)
	return o.done()
}

// indicator holds what is needed to write later versions of an indicator.
type indicator struct {
	id, producer       string
	markings           []string
	created            int64
	validUntil         int64 // 0: none
	name, pattern, typ string
	phase              string
	confidence         int
}

func (g *Generator) newIndicator() []byte {
	in := indicator{
		id:         g.id("indicator"),
		producer:   g.producer(),
		markings:   g.markingRefs(),
		created:    g.back(2),
		phase:      pick(g, phases),
		confidence: 30 + g.rng.IntN(71),
		typ:        "malicious-activity",
	}
	switch r := g.rng.IntN(100); {
	case r < 25:
		ip := g.ipv4()
		in.name, in.pattern = "C2 server "+ip, "[ipv4-addr:value = '"+ip+"']"
		in.phase = "command-and-control"
	case r < 30:
		n := g.cidr4()
		in.name, in.pattern = "Scanning network "+n, "[ipv4-addr:value ISSUBSET '"+n+"']"
		in.typ = "anomalous-activity"
	case r < 35:
		ip := g.ipv6()
		in.name, in.pattern = "C2 server "+ip, "[ipv6-addr:value = '"+ip+"']"
	case r < 55:
		d := g.domain()
		in.name, in.pattern = "Malicious domain "+d, "[domain-name:value = '"+d+"']"
	case r < 70:
		u := g.url()
		in.name, in.pattern = "Phishing URL", "[url:value = '"+u+"']"
		in.phase = "initial-access"
	case r < 75:
		e := g.email()
		in.name, in.pattern = "Phishing sender "+e, "[email-addr:value = '"+e+"']"
		in.phase = "initial-access"
	case r < 80:
		h := g.hexStr(32)
		in.name, in.pattern = "Malware sample MD5 "+h, "[file:hashes.MD5 = '"+h+"']"
	case r < 85:
		h := g.hexStr(40)
		in.name, in.pattern = "Malware sample SHA-1 "+h, "[file:hashes.'SHA-1' = '"+h+"']"
	case r < 95:
		h := g.hexStr(64)
		in.name, in.pattern = "Malware sample SHA-256 "+h, "[file:hashes.'SHA-256' = '"+h+"']"
	case r < 98:
		in.name = "Dropper " + pick(g, files)
		in.pattern = "[file:hashes.'SHA-256' = '" + g.hexStr(64) + "' OR file:hashes.MD5 = '" + g.hexStr(32) + "']"
	default:
		ip := g.ipv4()
		in.name = "Beacon to " + ip
		in.pattern = fmt.Sprintf("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '%s' AND network-traffic:dst_port = %d]", ip, []int{443, 8080, 8443, 4444, 53}[g.rng.IntN(5)])
		in.phase = "command-and-control"
	}
	if g.rng.IntN(3) > 0 {
		in.validUntil = in.created + int64(30+g.rng.IntN(335))*day
	}
	g.indicators.add(in)
	return g.renderIndicator(&in, g.clock, false)
}

// indicatorVersion writes a newer version of a recent indicator, revoking
// it one time in ten (a revoked indicator gets no further versions).
func (g *Generator) indicatorVersion() []byte {
	i := g.rng.IntN(len(g.indicators.items))
	in := g.indicators.items[i]
	in.confidence = 10 + g.rng.IntN(91)
	revoked := g.rng.IntN(10) == 0
	if revoked {
		g.indicators.remove(i)
	} else {
		g.indicators.items[i] = in
	}
	return g.renderIndicator(&in, g.clock, revoked)
}

func (g *Generator) renderIndicator(in *indicator, modified int64, revoked bool) []byte {
	o := g.sdo("indicator", in.id, in.producer, in.created, modified)
	if revoked {
		o.bool("revoked", true)
	}
	o.str("name", in.name)
	o.strs("indicator_types", in.typ)
	o.str("pattern", in.pattern)
	o.str("pattern_type", "stix")
	o.str("pattern_version", "2.1")
	o.ts("valid_from", in.created)
	if in.validUntil != 0 {
		o.ts("valid_until", in.validUntil)
	}
	o.raw("kill_chain_phases", `[{"kill_chain_name":"mitre-attack","phase_name":"`+in.phase+`"}]`)
	o.int("confidence", int64(in.confidence))
	o.strs("object_marking_refs", in.markings...)
	return o.done()
}

// ---- SROs ----

// relationship links two recent objects with a relationship type the spec
// defines for that pair (STIX 2.1 section 4, the relationship tables).
func (g *Generator) relationship() []byte {
	type tmpl struct {
		src  func() (string, bool)
		rel  string
		dst  *ring[string]
		dst2 func() (string, bool)
	}
	fromRing := func(r *ring[string]) func() (string, bool) {
		return func() (string, bool) {
			if r.empty() {
				return "", false
			}
			return r.pick(g.rng), true
		}
	}
	fromInd := func() (string, bool) {
		if g.indicators.empty() {
			return "", false
		}
		return g.indicators.pick(g.rng).id, true
	}
	identity := func() (string, bool) {
		if g.victims.empty() {
			return g.producer(), true
		}
		return g.victims.pick(g.rng), true
	}
	ts := []tmpl{
		{fromInd, "indicates", &g.malware, nil},
		{fromInd, "indicates", &g.malware, nil},
		{fromInd, "indicates", &g.actors, nil},
		{fromInd, "indicates", &g.sets, nil},
		{fromInd, "indicates", &g.campaigns, nil},
		{fromInd, "indicates", &g.attackPats, nil},
		{fromInd, "based-on", &g.observed, nil},
		{fromRing(&g.malware), "uses", &g.attackPats, nil},
		{fromRing(&g.malware), "exploits", &g.vulns, nil},
		{fromRing(&g.actors), "uses", &g.malware, nil},
		{fromRing(&g.actors), "targets", nil, identity},
		{fromRing(&g.sets), "attributed-to", &g.actors, nil},
		{fromRing(&g.sets), "uses", &g.malware, nil},
		{fromRing(&g.campaigns), "attributed-to", &g.sets, nil},
		{fromRing(&g.campaigns), "attributed-to", &g.actors, nil},
		{fromRing(&g.campaigns), "uses", &g.malware, nil},
		{fromRing(&g.campaigns), "targets", &g.vulns, nil},
	}
	for try := 0; try < 8; try++ {
		t := ts[g.rng.IntN(len(ts))]
		src, ok := t.src()
		if !ok {
			continue
		}
		dstf := t.dst2
		if dstf == nil {
			dstf = fromRing(t.dst)
		}
		dst, ok := dstf()
		if !ok {
			continue
		}
		o := g.sdo("relationship", g.id("relationship"), g.producer(), g.clock, g.clock)
		o.str("relationship_type", t.rel)
		o.str("source_ref", src)
		o.str("target_ref", dst)
		if g.rng.IntN(4) == 0 {
			o.ts("start_time", g.back(30))
		}
		o.int("confidence", int64(g.rng.IntN(101)))
		o.strs("object_marking_refs", g.markingRefs()...)
		return o.done()
	}
	// Too little to relate yet: make something to relate.
	return g.malwareSDO()
}

func (g *Generator) sighting() []byte {
	var of string
	if !g.indicators.empty() && (g.malware.empty() || g.rng.IntN(5) > 0) {
		of = g.indicators.pick(g.rng).id
	} else {
		of = g.malware.pick(g.rng)
	}
	first := g.back(14)
	o := g.sdo("sighting", g.id("sighting"), g.producer(), g.clock, g.clock)
	o.str("sighting_of_ref", of)
	o.ts("first_seen", first)
	o.ts("last_seen", g.clock)
	o.int("count", int64(1+g.rng.IntN(1000)))
	if !g.observed.empty() && g.rng.IntN(3) == 0 {
		o.strs("observed_data_refs", g.observed.pick(g.rng))
	}
	o.strs("where_sighted_refs", g.producer())
	o.strs("object_marking_refs", g.markingRefs()...)
	return o.done()
}

// ---- observed data and SCOs ----

// observedDataGroup queues 1-3 SCOs (a network-traffic object brings its
// destination address) followed by the observed-data that refers to them.
func (g *Generator) observedDataGroup() {
	var refs []string
	n := 1 + g.rng.IntN(3)
	for i := 0; i < n; i++ {
		var id string
		var b []byte
		switch g.rng.IntN(8) {
		case 0, 1:
			id, b = g.valueSCO("ipv4-addr", g.ipv4())
		case 2:
			id, b = g.valueSCO("ipv6-addr", g.ipv6())
		case 3:
			id, b = g.valueSCO("domain-name", g.domain())
		case 4:
			id, b = g.valueSCO("url", g.url())
		case 5:
			id, b = g.valueSCO("email-addr", g.email())
		case 6:
			id, b = g.fileSCO()
		default:
			dst, db := g.valueSCO("ipv4-addr", g.ipv4())
			g.emit(db)
			refs = append(refs, dst)
			id, b = g.trafficSCO(dst)
		}
		g.emit(b)
		refs = append(refs, id)
	}
	id := g.id("observed-data")
	first := g.back(3)
	o := g.sdo("observed-data", id, g.producer(), g.clock, g.clock)
	o.ts("first_observed", first)
	o.ts("last_observed", g.clock)
	o.int("number_observed", int64(1+g.rng.IntN(50)))
	o.strs("object_refs", refs...)
	o.strs("object_marking_refs", g.markingRefs()...)
	g.emit(o.done())
	g.observed.add(id)
}

// valueSCO is an SCO whose only ID contributing property is value
// (ipv4-addr, ipv6-addr, domain-name, url, email-addr).
func (g *Generator) valueSCO(typ, value string) (string, []byte) {
	q := quote(value)
	id := scoID(typ, `{"value":`+q+`}`)
	o := newObj(typ, id)
	o.raw("value", q)
	return id, o.done()
}

// fileSCO is a file with MD5, SHA-1 and SHA-256; its id is derived from
// the MD5 (the first hash in the spec's order of preference) and the name.
func (g *Generator) fileSCO() (string, []byte) {
	md5, sha1, sha256 := g.hexStr(32), g.hexStr(40), g.hexStr(64)
	name := pick(g, files)
	id := scoID("file", `{"hashes":{"MD5":"`+md5+`"},"name":`+quote(name)+`}`)
	o := newObj("file", id)
	o.raw("hashes", `{"MD5":"`+md5+`","SHA-1":"`+sha1+`","SHA-256":"`+sha256+`"}`)
	o.int("size", int64(1024+g.rng.IntN(4<<20)))
	o.str("name", name)
	return id, o.done()
}

func (g *Generator) trafficSCO(dst string) (string, []byte) {
	port := []int{443, 80, 8080, 8443, 4444, 53, 25}[g.rng.IntN(7)]
	proto := `["ipv4","tcp"]`
	if port == 53 {
		proto = `["ipv4","udp"]`
	}
	id := scoID("network-traffic", `{"dst_port":`+strconv.Itoa(port)+`,"dst_ref":"`+dst+`","protocols":`+proto+`}`)
	o := newObj("network-traffic", id)
	o.str("dst_ref", dst)
	o.int("dst_port", int64(port))
	o.raw("protocols", proto)
	return id, o.done()
}
