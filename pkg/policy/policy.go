// Package policy holds what an operator of milvus-admission may tune: each
// rule's action and the values the rules and defaults use. An embedded
// default applies; a file may override any part of it.
package policy

import (
	_ "embed"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// Action is what happens when a rule finds a violation.
type Action string

// The actions a rule may have.
const (
	Deny Action = "deny" // reject the request, naming the field and rule
	Warn Action = "warn" // admit it with a warning
	Off  Action = "off"  // ignore the rule
)

var actions = []Action{Deny, Warn, Off}

//go:embed default.yaml
var defaultYAML []byte

// Policy is the effective policy. Build it with Default or Load; the zero
// value is not usable.
type Policy struct {
	Rules              map[RuleID]Action `json:"rules"`
	ToolImage          string            `json:"toolImage"`
	MigrationWaypoint  string            `json:"migrationWaypoint"`
	DefaultRepository  string            `json:"defaultRepository"`
	OperatorIdentities []string          `json:"operatorIdentities"`

	waypoint milvus.Version
}

// Default returns the embedded default policy.
func Default() *Policy {
	p, err := parse(defaultYAML, nil)
	if err != nil {
		panic(fmt.Sprintf("embedded default policy is invalid: %v", err))
	}
	return p
}

// Load reads the policy file at path on top of the embedded default. An empty
// path returns the default.
func Load(path string) (*Policy, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := parse(defaultYAML, data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// Parse reads policy YAML on top of the embedded default.
func Parse(data []byte) (*Policy, error) { return parse(defaultYAML, data) }

func parse(base, override []byte) (*Policy, error) {
	p := &Policy{}
	for _, doc := range [][]byte{base, override} {
		if doc == nil {
			continue
		}
		// Strict: an unknown or misspelt key is an error naming it, not a
		// silently ignored setting.
		if err := yaml.UnmarshalStrict(doc, p); err != nil {
			return nil, err
		}
	}
	return p, p.validate()
}

func (p *Policy) validate() error {
	var errs []string
	for _, id := range sortedKeys(p.Rules) {
		if !slices.Contains(Rules, id) {
			errs = append(errs, fmt.Sprintf("rules.%s: unknown rule ID (known: %s)", id, joinIDs(Rules)))
		} else if a := p.Rules[id]; !slices.Contains(actions, a) {
			errs = append(errs, fmt.Sprintf("rules.%s: unknown action %q (use deny, warn or off)", id, a))
		}
	}
	if img, err := milvus.ParseImage(p.ToolImage); err != nil {
		errs = append(errs, fmt.Sprintf("toolImage: %v", err))
	} else if img.Tag == "" && img.Digest == "" {
		errs = append(errs, fmt.Sprintf("toolImage: %q must name a tag or digest", p.ToolImage))
	}
	if w, err := milvus.ParseVersion(p.MigrationWaypoint); err != nil {
		errs = append(errs, fmt.Sprintf("migrationWaypoint: %v", err))
	} else if w.Major() != 2 || w.Minor() != 2 || !w.AtLeast(2, 2, 3) || w.Prerelease() {
		errs = append(errs, fmt.Sprintf("migrationWaypoint: %q must be a 2.2.x release ≥ 2.2.3 (the migration tool only targets 2.2.x, and rolling upgrades start at 2.2.3)", p.MigrationWaypoint))
	} else {
		p.waypoint = w
	}
	if img, err := milvus.ParseImage(p.DefaultRepository); err != nil || img.Tag != "" || img.Digest != "" {
		errs = append(errs, fmt.Sprintf("defaultRepository: %q must be a repository without tag or digest", p.DefaultRepository))
	}
	for i, id := range p.OperatorIdentities {
		if strings.TrimSpace(id) == "" {
			errs = append(errs, fmt.Sprintf("operatorIdentities[%d]: empty user name", i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid policy:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// ActionFor is the action of rule id; a rule the policy does not mention is denied.
func (p *Policy) ActionFor(id RuleID) Action {
	if a, ok := p.Rules[id]; ok {
		return a
	}
	return Deny
}

// Waypoint is MigrationWaypoint parsed.
func (p *Policy) Waypoint() milvus.Version { return p.waypoint }

// IsOperator reports whether user is one of the operator identities.
func (p *Policy) IsOperator(user string) bool {
	return slices.Contains(p.OperatorIdentities, user)
}

func sortedKeys(m map[RuleID]Action) []RuleID {
	keys := make([]RuleID, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func joinIDs(ids []RuleID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}
