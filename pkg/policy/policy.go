// Package policy holds what an operator of milvus-admission may tune: each
// rule's action and the values the rules and defaults use. An embedded
// default applies; a file may override any part of it.
package policy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
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
	// Generate holds the image and plans a MilvusUpgrade instead of denying
	// (MU-META only; see docs/generation.md). Where no plan can be made the
	// violation is denied.
	Generate Action = "generate"
	// Stage sets a gated upgrade at the gate's waypoint instead of denying
	// it (the rules with a GateWaypoint only; see docs/policy.md): the next
	// sync moves on once the waypoint runs healthy. Where no legal hop can be
	// staged the violation is denied.
	Stage Action = "stage"
)

var actions = []Action{Deny, Warn, Off, Generate, Stage}

// UnmarshalJSON reads an action. YAML 1.1 reads a bare `off` as the boolean
// false (which reaches us as false or "false"), so false means Off.
func (a *Action) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		var b bool
		if json.Unmarshal(data, &b) != nil {
			return fmt.Errorf("an action is deny, warn, off, generate or stage, not %s", data)
		}
		s = strconv.FormatBool(b)
	}
	if s == "false" {
		s = string(Off)
	}
	*a = Action(s)
	return nil
}

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
	// Namespaces override rule actions in one namespace each, e.g. a staging
	// namespace where MU-26 only warns (the exception, like Kyverno's
	// PolicyException). Everything else is the cluster's policy.
	Namespaces map[string]NamespacePolicy `json:"namespaces,omitempty"`

	waypoint milvus.Version
	// staging reports a rule whose action is stage.
	staging bool
	// byNamespace are the effective policies of Namespaces, built once.
	byNamespace map[string]*Policy
}

// NamespacePolicy is what a namespace may override.
type NamespacePolicy struct {
	Rules map[RuleID]Action `json:"rules"`
}

// For is the policy in effect in namespace: p with that namespace's rule
// actions, if it has any.
func (p *Policy) For(namespace string) *Policy {
	if q, ok := p.byNamespace[namespace]; ok {
		return q
	}
	return p
}

// Exempted lists the rules whose action in namespace differs from the
// cluster's, among ids.
func (p *Policy) Exempted(namespace string, ids []RuleID) []RuleID {
	q := p.For(namespace)
	var out []RuleID
	for _, id := range ids {
		if q.ActionFor(id) != p.ActionFor(id) {
			out = append(out, id)
		}
	}
	return out
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
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// Parse reads policy YAML on top of the embedded default.
func Parse(data []byte) (*Policy, error) { return parse(defaultYAML, data) }

// policyKeys are the top-level keys of a policy file, spelt exactly.
var policyKeys = []string{"rules", "toolImage", "migrationWaypoint", "defaultRepository", "operatorIdentities", "namespaces"}

func parse(base, override []byte) (*Policy, error) {
	p := &Policy{}
	for _, doc := range [][]byte{base, override} {
		if doc == nil {
			continue
		}
		doc, err := checkKeys(doc)
		if err != nil {
			return nil, err
		}
		// Strict: an unknown or misspelt key is an error naming it, not a
		// silently ignored setting.
		if err := yaml.UnmarshalStrict(doc, p); err != nil {
			return nil, err
		}
	}
	return p, p.validate()
}

// checkKeys rejects a top-level key that is not spelt exactly as in policyKeys
// (JSON decoding alone matches keys case-insensitively, so "toolimage" would
// pass) and drops keys left empty (null), so that an empty "rules:" keeps the
// defaults instead of erasing them. It returns the document as JSON.
func checkKeys(doc []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := yaml.UnmarshalStrict(doc, &top); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !slices.Contains(policyKeys, k) {
			return nil, fmt.Errorf("unknown key %q (known: %s)", k, strings.Join(policyKeys, ", "))
		}
		if string(top[k]) == "null" {
			delete(top, k)
		}
	}
	return json.Marshal(top)
}

func (p *Policy) validate() error {
	errs := checkRules("rules", p.Rules)
	for _, ns := range slices.Sorted(maps.Keys(p.Namespaces)) {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("namespaces.%s: not a namespace name: %s", ns, strings.Join(msgs, "; ")))
		}
		errs = append(errs, checkRules("namespaces."+ns+".rules", p.Namespaces[ns].Rules)...)
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
	// Each namespace's effective policy, built once the whole policy checks.
	p.staging = stages(p.Rules)
	p.byNamespace = map[string]*Policy{}
	for ns, np := range p.Namespaces {
		q := *p
		q.Rules = maps.Clone(p.Rules)
		maps.Copy(q.Rules, np.Rules)
		q.staging = stages(q.Rules)
		q.byNamespace = nil
		p.byNamespace[ns] = &q
	}
	return nil
}

// Staging reports whether some rule's action is stage: only then can the
// defaulting webhook stage a change.
func (p *Policy) Staging() bool { return p.staging }

func stages(rules map[RuleID]Action) bool {
	return slices.Contains(slices.Collect(maps.Values(rules)), Stage)
}

// checkRules checks a map of rule actions found at key.
func checkRules(key string, rules map[RuleID]Action) []string {
	var errs []string
	for _, id := range slices.Sorted(maps.Keys(rules)) {
		if !slices.Contains(Rules, id) {
			errs = append(errs, fmt.Sprintf("%s.%s: unknown rule ID (known: %s)", key, id, Join(Rules, ", ")))
		} else if a := rules[id]; !slices.Contains(actions, a) {
			errs = append(errs, fmt.Sprintf("%s.%s: unknown action %q (use deny, warn, off, or generate for MU-META, stage for %s)", key, id, a, Join(Gates(), ", ")))
		} else if a == Generate && id != MuMeta {
			errs = append(errs, fmt.Sprintf("%s.%s: generate is only for %s (use deny, warn or off)", key, id, MuMeta))
		} else if _, gate := GateWaypoint(id); a == Stage && !gate {
			errs = append(errs, fmt.Sprintf("%s.%s: stage is only for the gates with a waypoint, %s (use deny, warn or off)", key, id, Join(Gates(), ", ")))
		}
	}
	return errs
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

// Join joins rule IDs with sep, as audit annotations and messages list them.
func Join(ids []RuleID, sep string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, sep)
}
