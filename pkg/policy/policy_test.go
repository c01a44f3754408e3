package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var defaultIdentities = []string{
	"system:serviceaccount:milvus-operator:milvus-operator",
	"system:serviceaccount:milvus-operator:milvus-operator-controller-manager",
}

// writePolicy writes content to a policy file in a fresh temporary directory.
func writePolicy(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestRulesAreUnique(t *testing.T) {
	seen := map[RuleID]bool{}
	for _, id := range Rules {
		assert.False(t, seen[id], "rule %s listed twice", id)
		seen[id] = true
	}
}

func TestDefault(t *testing.T) {
	p := Default()

	t.Run("covers every rule", func(t *testing.T) {
		for _, id := range Rules {
			a, ok := p.Rules[id]
			if assert.True(t, ok, "default.yaml has no action for %s", id) {
				assert.Contains(t, actions, a, "%s", id)
			}
		}
		assert.Len(t, p.Rules, len(Rules))
	})

	t.Run("default.yaml names only known rules", func(t *testing.T) {
		var raw struct {
			Rules map[string]any `json:"rules"`
		}
		require.NoError(t, yaml.Unmarshal(defaultYAML, &raw))
		require.NotEmpty(t, raw.Rules)
		for id := range raw.Rules {
			assert.Contains(t, Rules, RuleID(id), "default.yaml names unknown rule %s", id)
		}
	})

	t.Run("values", func(t *testing.T) {
		assert.Equal(t, "milvusdb/meta-migration:v2.2.0", p.ToolImage)
		assert.Equal(t, "v2.2.16", p.MigrationWaypoint)
		assert.Equal(t, "2.2.16", p.Waypoint().Short())
		assert.Equal(t, "milvusdb/milvus", p.DefaultRepository)
		assert.Equal(t, defaultIdentities, p.OperatorIdentities)
	})

	t.Run("selected actions", func(t *testing.T) {
		assert.Equal(t, Generate, p.ActionFor(MuMeta))
		assert.Equal(t, Warn, p.ActionFor(MuRolling))
		assert.Equal(t, Warn, p.ActionFor(MuPrerelease))
		assert.Equal(t, Deny, p.ActionFor(MuTargetUnknown))
		assert.Equal(t, Warn, p.ActionFor(MuSourceUnknown))
	})

	t.Run("each call is a fresh copy", func(t *testing.T) {
		q := Default()
		q.Rules[MuMeta] = Off
		q.OperatorIdentities[0] = "someone"
		assert.Equal(t, Generate, Default().ActionFor(MuMeta))
		assert.Equal(t, defaultIdentities, Default().OperatorIdentities)
	})
}

func TestLoadEmptyPathIsDefault(t *testing.T) {
	p, err := Load("")
	require.NoError(t, err)
	assert.Equal(t, Default(), p)
}

func TestLoadOverrides(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, p *Policy)
		// changed lists the rules whose action differs from the default.
		changed map[RuleID]Action
	}{
		{
			name:    "one action overridden, others kept",
			yaml:    "rules:\n  MU-ROLLING: deny\n",
			changed: map[RuleID]Action{MuRolling: Deny},
		},
		{
			name:    "several actions, quoted off",
			yaml:    "rules:\n  MU-META: warn\n  MU-30: \"off\"\n",
			changed: map[RuleID]Action{MuMeta: Warn, Mu30: Off},
		},
		{
			name:    "bare off (a YAML 1.1 boolean) is off",
			yaml:    "rules:\n  MU-PRERELEASE: off\n",
			changed: map[RuleID]Action{MuPrerelease: Off},
		},
		{
			name: "empty file is the default",
			yaml: "",
		},
		{
			name: "comments only is the default",
			yaml: "# nothing to change\n",
		},
		{
			name: "empty rules key keeps the default rules",
			yaml: "rules:\n  # MU-ROLLING: deny\n",
		},
		{
			name: "empty operatorIdentities key keeps the default identities",
			yaml: "operatorIdentities:\n",
		},
		{
			name: "values overridden",
			yaml: "toolImage: harbor.example.com/milvusdb/meta-migration:v2.2.0-bugfix-20230112\n" +
				"migrationWaypoint: 2.2.3\n" +
				"defaultRepository: 10.20.12.8:5000/milvusdb/milvus\n",
			check: func(t *testing.T, p *Policy) {
				assert.Equal(t, "harbor.example.com/milvusdb/meta-migration:v2.2.0-bugfix-20230112", p.ToolImage)
				assert.Equal(t, "2.2.3", p.MigrationWaypoint)
				assert.Equal(t, "2.2.3", p.Waypoint().Short())
				assert.Equal(t, "10.20.12.8:5000/milvusdb/milvus", p.DefaultRepository)
				assert.Equal(t, defaultIdentities, p.OperatorIdentities, "identities kept")
			},
		},
		{
			name: "toolImage pinned by digest",
			yaml: "toolImage: milvusdb/meta-migration@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
			check: func(t *testing.T, p *Policy) {
				assert.Contains(t, p.ToolImage, "@sha256:")
			},
		},
		{
			name: "operatorIdentities replaces the list",
			yaml: "operatorIdentities:\n  - system:serviceaccount:ops:milvus-operator\n",
			check: func(t *testing.T, p *Policy) {
				assert.Equal(t, []string{"system:serviceaccount:ops:milvus-operator"}, p.OperatorIdentities)
				assert.True(t, p.IsOperator("system:serviceaccount:ops:milvus-operator"))
				assert.False(t, p.IsOperator(defaultIdentities[0]), "default identity no longer trusted")
			},
		},
		{
			name: "operatorIdentities emptied explicitly",
			yaml: "operatorIdentities: []\n",
			check: func(t *testing.T, p *Policy) {
				assert.Empty(t, p.OperatorIdentities)
				assert.False(t, p.IsOperator(defaultIdentities[0]))
			},
		},
	}
	def := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(writePolicy(t, tt.yaml))
			require.NoError(t, err)

			for _, id := range Rules {
				want := def.ActionFor(id)
				if a, ok := tt.changed[id]; ok {
					want = a
				}
				assert.Equal(t, want, p.ActionFor(id), "%s", id)
			}
			assert.Len(t, p.Rules, len(Rules))

			if tt.check != nil {
				tt.check(t, p)
				return
			}
			assert.Equal(t, def.ToolImage, p.ToolImage)
			assert.Equal(t, def.MigrationWaypoint, p.MigrationWaypoint)
			assert.Equal(t, 0, def.Waypoint().Compare(p.Waypoint()))
			assert.Equal(t, def.DefaultRepository, p.DefaultRepository)
			assert.Equal(t, def.OperatorIdentities, p.OperatorIdentities)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"misspelt top-level key (case)", "toolimage: milvusdb/meta-migration:v2.2.0\n", []string{`"toolimage"`, "unknown key"}},
		{"unknown top-level key", "toolImages: milvusdb/meta-migration:v2.2.0\n", []string{`"toolImages"`}},
		{"unknown rule ID", "rules:\n  MU-FOO: deny\n", []string{"rules.MU-FOO", "unknown rule ID"}},
		{"rule ID in wrong case", "rules:\n  mu-meta: warn\n", []string{"rules.mu-meta", "unknown rule ID"}},
		{"unknown action", "rules:\n  MU-MAJOR: block\n", []string{"rules.MU-MAJOR", `unknown action "block"`}},
		{"action in wrong case", "rules:\n  MU-MAJOR: Deny\n", []string{"rules.MU-MAJOR", `unknown action "Deny"`}},
		{"true is no action", "rules:\n  MU-MAJOR: true\n", []string{"rules.MU-MAJOR", `unknown action "true"`}},
		{"numeric action", "rules:\n  MU-MAJOR: 1\n", []string{"deny, warn, off, or generate"}},
		{"waypoint on the 2.3 line", "migrationWaypoint: v2.3.0\n", []string{"migrationWaypoint", `"v2.3.0"`, "2.2.x"}},
		{"waypoint below 2.2.3", "migrationWaypoint: v2.2.1\n", []string{"migrationWaypoint", `"v2.2.1"`, "2.2.3"}},
		{"waypoint pre-release", "migrationWaypoint: v2.2.16-rc1\n", []string{"migrationWaypoint", `"v2.2.16-rc1"`}},
		{"waypoint not a version", "migrationWaypoint: latest\n", []string{"migrationWaypoint", "names no verifiable version"}},
		{"waypoint without patch", "migrationWaypoint: \"2.2\"\n", []string{"migrationWaypoint", "no patch number"}},
		{"toolImage without tag", "toolImage: milvusdb/meta-migration\n", []string{"toolImage", "must name a tag or digest"}},
		{"toolImage malformed", "toolImage: \"milvusdb/meta-migration:\"\n", []string{"toolImage", "malformed tag"}},
		{"toolImage with spaces", "toolImage: milvusdb/meta migration:v2.2.0\n", []string{"toolImage", "characters"}},
		{"toolImage empty", "toolImage: \"\"\n", []string{"toolImage", "empty image reference"}},
		{"defaultRepository with a tag", "defaultRepository: milvusdb/milvus:v2.4.23\n", []string{"defaultRepository", `"milvusdb/milvus:v2.4.23"`, "without tag"}},
		{"defaultRepository with a digest", "defaultRepository: milvusdb/milvus@sha256:0123456789abcdef0123456789abcdef\n", []string{"defaultRepository"}},
		{"defaultRepository empty", "defaultRepository: \"\"\n", []string{"defaultRepository"}},
		{"empty identity", "operatorIdentities:\n  - system:serviceaccount:ops:op\n  - \"  \"\n", []string{"operatorIdentities[1]", "empty user name"}},
		{"every error is reported", "migrationWaypoint: v2.3.0\ndefaultRepository: milvusdb/milvus:v1\n", []string{"migrationWaypoint", "defaultRepository"}},
		{"malformed YAML", "rules: [deny\n", []string{"policy "}},
		{"rules as a list", "rules:\n  - MU-MAJOR\n", []string{"policy "}},
		{"not a mapping", "- deny\n", []string{"policy "}},
		{"duplicate key", "toolImage: a/b:v1\ntoolImage: c/d:v1\n", []string{"toolImage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writePolicy(t, tt.yaml)
			p, err := Load(path)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), path, "error names the file")
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "does-not-exist.yaml")
	p, err := Load(path)
	require.Error(t, err)
	assert.Nil(t, p)
	assert.Contains(t, err.Error(), path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestParse(t *testing.T) {
	p, err := Parse(nil)
	require.NoError(t, err)
	assert.Equal(t, Default(), p)

	p, err = Parse([]byte("rules:\n  MU-UP-NS: warn\n"))
	require.NoError(t, err)
	assert.Equal(t, Warn, p.ActionFor(MuUpNs))

	_, err = Parse([]byte("rules:\n  MU-UP-NS: maybe\n"))
	require.ErrorContains(t, err, "rules.MU-UP-NS")
}

func TestActionFor(t *testing.T) {
	p := &Policy{Rules: map[RuleID]Action{MuRolling: Warn, MuMeta: Off}}
	tests := []struct {
		name string
		id   RuleID
		want Action
	}{
		{"warn", MuRolling, Warn},
		{"off", MuMeta, Off},
		{"a rule the policy does not mention is denied", Mu26, Deny},
		{"an unknown rule is denied", RuleID("MU-NOPE"), Deny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, p.ActionFor(tt.id))
		})
	}
}

func TestWaypoint(t *testing.T) {
	tests := []struct {
		name      string
		waypoint  string
		wantShort string
	}{
		{"default", "", "2.2.16"},
		{"lowest allowed", "v2.2.3", "2.2.3"},
		{"without v", "2.2.10", "2.2.10"},
		{"flavour suffix", "v2.2.14-hotfix", "2.2.14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc []byte
			if tt.waypoint != "" {
				doc = []byte("migrationWaypoint: " + tt.waypoint + "\n")
			}
			p, err := Parse(doc)
			require.NoError(t, err)
			w := p.Waypoint()
			require.False(t, w.IsZero())
			assert.Equal(t, tt.wantShort, w.Short())
			assert.False(t, w.Prerelease())
			assert.True(t, w.AtLeast(2, 2, 3))
		})
	}
}

func TestIsOperator(t *testing.T) {
	p := Default()
	tests := []struct {
		name string
		user string
		want bool
	}{
		{"helm install", "system:serviceaccount:milvus-operator:milvus-operator", true},
		{"kustomize install", "system:serviceaccount:milvus-operator:milvus-operator-controller-manager", true},
		{"other service account", "system:serviceaccount:default:milvus-operator", false},
		{"human user", "alice@example.com", false},
		{"empty user", "", false},
		{"prefix only", "system:serviceaccount:milvus-operator", false},
		{"case differs", "System:ServiceAccount:milvus-operator:milvus-operator", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, p.IsOperator(tt.user))
		})
	}
}

func TestGenerateIsOnlyForMeta(t *testing.T) {
	_, err := Parse([]byte("rules: {MU-ROLLING: generate}"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rules.MU-ROLLING: generate is only for MU-META")
	p, err := Parse([]byte("rules: {MU-META: deny}"))
	require.NoError(t, err)
	assert.Equal(t, Deny, p.ActionFor(MuMeta))
}

// stage is accepted for the gates with a waypoint only, in the cluster's
// rules and in a namespace's, and refused elsewhere naming the key.
func TestStageIsOnlyForGates(t *testing.T) {
	assert.Equal(t, []RuleID{Mu26, Mu30}, Gates())
	for id, want := range map[RuleID]string{Mu26: "v2.5.16", Mu30: "v2.6.20"} {
		w, ok := GateWaypoint(id)
		require.True(t, ok, id)
		assert.Equal(t, want, w.String())
	}
	_, ok := GateWaypoint(MuMeta)
	assert.False(t, ok)

	p, err := Parse([]byte("rules: {MU-26: stage}\nnamespaces:\n  prod:\n    rules: {MU-26: deny}\n  staging:\n    rules: {MU-30: stage}\n"))
	require.NoError(t, err)
	assert.Equal(t, Stage, p.ActionFor(Mu26))
	assert.True(t, p.Staging())
	assert.False(t, p.For("prod").Staging(), "prod overrides the only stage")
	assert.True(t, p.For("staging").Staging())
	assert.Equal(t, Stage, p.For("staging").ActionFor(Mu30))
	assert.False(t, Default().Staging(), "the default never stages")
	assert.Equal(t, []RuleID{Mu26}, p.Exempted("prod", []RuleID{Mu26, Mu30}))

	for _, tc := range []struct{ doc, says string }{
		{"rules: {MU-META: stage}\n", "rules.MU-META: stage is only for the gates with a waypoint, MU-26, MU-30 (use deny, warn or off)"},
		{"rules: {MU-26-OPERATOR: stage}\n", "rules.MU-26-OPERATOR: stage is only for the gates"},
		{"rules: {MU-META-RANGE: stage}\n", "rules.MU-META-RANGE: stage is only for the gates"},
		{"namespaces:\n  staging:\n    rules: {MU-ROLLING: stage}\n", "namespaces.staging.rules.MU-ROLLING: stage is only for the gates"},
		{"rules: {MU-26: generate}\n", "rules.MU-26: generate is only for MU-META"},
		{"rules: {MU-26: Stage}\n", `rules.MU-26: unknown action "Stage" (use deny, warn, off, or generate for MU-META, stage for MU-26, MU-30)`},
	} {
		_, err := Parse([]byte(tc.doc))
		require.Error(t, err, tc.doc)
		assert.Contains(t, err.Error(), tc.says)
	}
	path := writePolicy(t, "namespaces:\n  staging:\n    rules: {MU-META: stage}\n")
	_, err = Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+": invalid policy:\n  namespaces.staging.rules.MU-META: stage is only for the gates", "fails fast at start, naming the file and key")
}

// A namespace may override rule actions; everything else is the cluster's.
func TestNamespaceOverrides(t *testing.T) {
	p, err := Parse([]byte("rules: {MU-30: deny}\nnamespaces:\n  staging:\n    rules: {MU-26: warn, MU-META: deny}\n"))
	require.NoError(t, err)
	staging, prod := p.For("staging"), p.For("prod")
	assert.Same(t, p, prod, "a namespace without overrides gets the cluster policy")
	assert.Equal(t, Warn, staging.ActionFor(Mu26))
	assert.Equal(t, Deny, staging.ActionFor(MuMeta))
	assert.Equal(t, Deny, staging.ActionFor(Mu30), "the cluster's own override still applies")
	assert.Equal(t, Deny, prod.ActionFor(Mu26))
	assert.Equal(t, Generate, prod.ActionFor(MuMeta))
	assert.Equal(t, p.ToolImage, staging.ToolImage)
	assert.Equal(t, p.Waypoint().String(), staging.Waypoint().String(), "built after the waypoint is parsed")
	assert.Equal(t, []RuleID{Mu26, MuMeta}, p.Exempted("staging", []RuleID{MuMajor, Mu26, MuMeta}))
	assert.Empty(t, p.Exempted("prod", []RuleID{Mu26}))

	for _, tc := range []struct{ doc, says string }{
		{"namespaces:\n  Staging_1:\n    rules: {MU-26: warn}\n", "namespaces.Staging_1: not a namespace name"},
		{"namespaces:\n  staging:\n    rules: {MU-99: warn}\n", "namespaces.staging.rules.MU-99: unknown rule ID"},
		{"namespaces:\n  staging:\n    rules: {MU-26: maybe}\n", `namespaces.staging.rules.MU-26: unknown action "maybe"`},
		{"namespaces:\n  staging:\n    rulez: {MU-26: warn}\n", "rulez"},
	} {
		_, err := Parse([]byte(tc.doc))
		require.Error(t, err, tc.doc)
		assert.Contains(t, err.Error(), tc.says)
	}
}
