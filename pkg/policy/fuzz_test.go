package policy

import (
	"strings"
	"testing"
)

// FuzzParse: any policy text is either a valid policy or an error that says
// what is wrong; never a panic, never a policy that fails its own checks.
func FuzzParse(f *testing.F) {
	f.Add([]byte("rules:\n  MU-META: deny\n"))
	f.Add([]byte("rules: {MU-META: off, MU-26: warn}\ntoolImage: a/b:v1\n"))
	f.Add([]byte("migrationWaypoint: v2.2.3\noperatorIdentities: [a, '']\n"))
	f.Add([]byte("rules:\n"))
	f.Add([]byte("{"))
	f.Add([]byte("rules: {MU-26: stage}\nnamespaces: {prod: {rules: {MU-30: stage, MU-META: stage}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("an error that says nothing")
			}
			return
		}
		if err := p.validate(); err != nil {
			t.Fatalf("parsed policy fails its own checks: %v", err)
		}
		for _, id := range Rules {
			switch p.ActionFor(id) {
			case Deny, Warn, Off, Generate, Stage:
			default:
				t.Fatalf("rule %s has action %q", id, p.ActionFor(id))
			}
		}
	})
}
