package disseminate

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// ccTLDs are the country-code top-level domains of an ISO 3166-1 alpha-2
// code: the code in lower case (IANA's root zone follows ISO 3166-1),
// except the United Kingdom, whose ccTLD is .uk (.gb is reserved and
// unused, listed too), plus the internationalised ccTLDs (in their
// ASCII form) of some members.
func ccTLDs(cc string) []string {
	out := []string{strings.ToLower(cc)}
	if cc == "GB" {
		out = []string{"uk", "gb"}
	}
	return append(out, idnTLDs[cc]...)
}

var idnTLDs = map[string][]string{
	"RU": {"xn--p1ai"},                 // .рф
	"CN": {"xn--fiqs8s", "xn--fiqz9s"}, // .中国, .中國
	"UA": {"xn--j1amh"},                // .укр
	"BY": {"xn--90ais"},                // .бел
	"KZ": {"xn--80ao21a"},              // .қаз
	"RS": {"xn--90a3ac"},               // .срб
	"KR": {"xn--3e0b707e"},             // .한국
	"EG": {"xn--wgbh1c"},               // .مصر
	"SA": {"xn--mgberp4a5d4ar"},        // .السعودية
	"IN": {"xn--h2brj9c"},              // .भारत
}

// asciiTLD is tld in its ASCII (A-label) form.
func asciiTLD(tld string) string {
	for i := 0; i < len(tld); i++ {
		if tld[i] >= 0x80 {
			if a, err := idna.Lookup.ToASCII(tld); err == nil {
				return a
			}
			return tld
		}
	}
	return tld
}

// CountryName is the English name of an ISO 3166-1 alpha-2 code, e.g.
// "France" for FR; the code itself when unknown.
func CountryName(cc string) string {
	r, err := language.ParseRegion(cc)
	if err != nil {
		return cc
	}
	if n := display.English.Regions().Name(r); n != "" {
		return n
	}
	return cc
}
