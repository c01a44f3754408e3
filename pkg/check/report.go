package check

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The apiVersion and kind of the -o json document (docs/cli.md describes
// it); a change that breaks a reader gets a new apiVersion.
const (
	ReportAPIVersion = "check.milvus-admission.io/v1"
	ReportKind       = "CheckReport"
)

// Decision is what the cluster does with one object.
type Decision string

// The decisions.
const (
	// Allowed: stored as applied (warnings and defaults included).
	Allowed Decision = "allowed"
	// Denied: rejected; kubectl apply fails.
	Denied Decision = "denied"
	// Held: applied with the old image kept; the controller creates a
	// MilvusUpgrade that migrates the metadata first (docs/generation.md).
	Held Decision = "held"
	// Unchanged: the manifest equals what is stored; kubectl sends nothing.
	Unchanged Decision = "unchanged"
)

// Report is the result of a check.
type Report struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Base       string   `json:"base"`
	User       string   `json:"user"`
	Summary    Summary  `json:"summary"`
	Results    []Result `json:"results"`
}

// Summary counts the results by decision.
type Summary struct {
	Allowed   int `json:"allowed"`
	Denied    int `json:"denied"`
	Held      int `json:"held"`
	Unchanged int `json:"unchanged"`
}

// Result is the decision about one object.
type Result struct {
	File       string `json:"file"`
	Line       int    `json:"line"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	// Operation is CREATE (the base has no such object) or UPDATE.
	Operation string   `json:"operation"`
	Decision  Decision `json:"decision"`
	// NotSent: the webhook configurations' matchConditions leave this
	// update out (nothing the rules read changed); the API server admits it
	// without asking the webhook.
	NotSent bool `json:"notSent,omitempty"`
	// Rules are the IDs of the rules that fired (denied, warned or held).
	Rules []string `json:"rules"`
	// Reason is the denial's status reason (Invalid); Message is the
	// denial as kubectl prints it, ServerMessage as the API server returns
	// it (Argo CD and Flux show this one).
	Reason        string        `json:"reason,omitempty"`
	Message       string        `json:"message,omitempty"`
	ServerMessage string        `json:"serverMessage,omitempty"`
	FieldErrors   []FieldError  `json:"fieldErrors"`
	Warnings      []Warning     `json:"warnings"`
	Patch         []JSONPatchOp `json:"patch"`
	// Generated is the MilvusUpgrade the controller creates for a held
	// change, as stored (without its ownerReference to the Milvus).
	Generated map[string]any `json:"generated,omitempty"`
	// GeneratedRefused says why the controller would not create it.
	GeneratedRefused string `json:"generatedRefused,omitempty"`
}

// FieldError is one field of a denial.
type FieldError struct {
	Field   string `json:"field"`
	Type    string `json:"type"`
	Message string `json:"message"`
	Rule    string `json:"rule"`
	Line    int    `json:"line"`
}

// Warning is one warning, as kubectl prints it after "Warning: ".
type Warning struct {
	Text  string `json:"text"`
	Rule  string `json:"rule"`
	Field string `json:"field"`
	Line  int    `json:"line"`
}

// JSONPatchOp is one operation of the mutating webhook's JSON patch.
type JSONPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func (r *Report) add(res Result) {
	r.Results = append(r.Results, res)
	switch res.Decision {
	case Allowed:
		r.Summary.Allowed++
	case Denied:
		r.Summary.Denied++
	case Held:
		r.Summary.Held++
	case Unchanged:
		r.Summary.Unchanged++
	}
}

// Denied reports whether any object was denied.
func (r *Report) Denied() bool { return r.Summary.Denied > 0 }

// Formats of Write.
const (
	FormatText   = "text"
	FormatJSON   = "json"
	FormatGitHub = "github"
	FormatSARIF  = "sarif"
)

// Formats lists the output formats.
var Formats = []string{FormatText, FormatJSON, FormatGitHub, FormatSARIF}

// Write writes the report in format.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatText:
		return r.writeText(w)
	case FormatJSON:
		return writeJSON(w, r)
	case FormatGitHub:
		return r.writeGitHub(w)
	case FormatSARIF:
		return writeJSON(w, r.sarif())
	}
	return fmt.Errorf("unknown output format %q: one of %s", format, strings.Join(Formats, ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (s Summary) String() string {
	return fmt.Sprintf("%d allowed, %d held, %d denied, %d unchanged", s.Allowed, s.Held, s.Denied, s.Unchanged)
}

// writeText writes what kubectl would show for each object.
func (r *Report) writeText(w io.Writer) error {
	var b strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(&b, "%s:%d: %s %s/%s", res.File, res.Line, res.Kind, res.Namespace, res.Name)
		switch {
		case res.Decision == Unchanged:
			b.WriteString(": unchanged (kubectl sends nothing)\n")
			continue
		case res.NotSent:
			fmt.Fprintf(&b, " %s: %s (nothing the webhook reads changed: it is not called)\n", res.Operation, res.Decision)
			continue
		}
		fmt.Fprintf(&b, " %s: %s\n", res.Operation, res.Decision)
		for _, wa := range res.Warnings {
			fmt.Fprintf(&b, "  Warning: %s\n", wa.Text)
		}
		if res.Decision == Denied {
			for line := range strings.SplitSeq(res.Message, "\n") {
				fmt.Fprintf(&b, "  %s\n", line)
			}
			for _, fe := range res.FieldErrors {
				fmt.Fprintf(&b, "  at %s:%d: %s (%s)\n", res.File, fe.Line, fe.Field, cmp.Or(fe.Rule, fe.Type))
			}
		}
		if res.Decision == Held {
			writeHeld(&b, res)
		}
	}
	fmt.Fprintf(&b, "\n%s: %s\n", objects(len(r.Results)), r.Summary)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeHeld(b *strings.Builder, res Result) {
	if res.Generated == nil {
		fmt.Fprintf(b, "  The controller creates no MilvusUpgrade: %s\n", res.GeneratedRefused)
		return
	}
	b.WriteString("  The image stays as stored until the metadata is migrated; the controller creates\n  (with an ownerReference to the Milvus):\n")
	out, err := yaml.Marshal(res.Generated)
	if err != nil {
		out = []byte(err.Error())
	}
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(b, "    %s\n", line)
	}
	if res.GeneratedRefused != "" {
		fmt.Fprintf(b, "  but the rules refuse it, so the change stays held: %s\n", res.GeneratedRefused)
	}
}

// finding is one annotation of -o github and -o sarif: an error at the
// line of each denied field (or the object, for a denial without fields), a
// warning at the line of each warning's field.
type finding struct {
	level, rule, file string
	line              int
	message           string
}

func (r *Report) findings() []finding {
	var out []finding
	for _, res := range r.Results {
		at := func(level, rule string, line int, msg string) {
			out = append(out, finding{level, cmp.Or(rule, "milvus-admission"), res.File, line,
				fmt.Sprintf("%s %s/%s: %s", res.Kind, res.Namespace, res.Name, msg)})
		}
		for _, fe := range res.FieldErrors {
			at("error", fe.Rule, fe.Line, fe.Field+": "+fe.Message)
		}
		if res.Decision == Denied && len(res.FieldErrors) == 0 {
			at("error", strings.Join(res.Rules, ","), res.Line, res.ServerMessage)
		}
		for _, wa := range res.Warnings {
			at("warning", wa.Rule, wa.Line, wa.Text)
		}
	}
	return out
}

// writeGitHub writes GitHub Actions workflow commands, then the summary.
func (r *Report) writeGitHub(w io.Writer) error {
	var b strings.Builder
	for _, f := range r.findings() {
		githubCommand(&b, f)
	}
	fmt.Fprintf(&b, "milvus-admission check: %s: %s\n", objects(len(r.Results)), r.Summary)
	_, err := io.WriteString(w, b.String())
	return err
}

// githubCommand writes "::level file=F,line=L,title=T::message", escaped as
// the Actions toolkit does.
func githubCommand(b *strings.Builder, f finding) {
	props := []string{}
	if f.file != StdinName {
		props = append(props, "file="+escapeProperty(f.file))
		if f.line > 0 {
			props = append(props, fmt.Sprintf("line=%d", f.line))
		}
	}
	props = append(props, "title="+escapeProperty(f.rule))
	fmt.Fprintf(b, "::%s %s::%s\n", f.level, strings.Join(props, ","), escapeData(f.message))
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

func escapeData(s string) string     { return dataEscaper.Replace(s) }
func escapeProperty(s string) string { return propertyEscaper.Replace(s) }

// SARIF 2.1.0, the subset code scanning reads.
type (
	sarifLog struct {
		Version string     `json:"version"`
		Schema  string     `json:"$schema"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID      string `json:"id"`
		HelpURI string `json:"helpUri"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		Level     string          `json:"level"`
		Message   sarifMessage    `json:"message"`
		Locations []sarifLocation `json:"locations,omitempty"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           sarifRegion   `json:"region"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine int `json:"startLine"`
	}
)

const rulesURI = "https://github.com/milvus-admission/milvus-admission/blob/main/docs/rules.md"

func (r *Report) sarif() sarifLog {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "milvus-admission", InformationURI: rulesURI, Rules: []sarifRule{}}},
		Results: []sarifResult{},
	}
	for _, f := range r.findings() {
		res := sarifResult{RuleID: f.rule, Level: f.level, Message: sarifMessage{Text: f.message}}
		if f.file != StdinName {
			res.Locations = []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: f.file}, Region: sarifRegion{StartLine: max(f.line, 1)},
			}}}
		}
		run.Results = append(run.Results, res)
		if !slices.ContainsFunc(run.Tool.Driver.Rules, func(r sarifRule) bool { return r.ID == f.rule }) {
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: f.rule, HelpURI: rulesURI})
		}
	}
	return sarifLog{Version: "2.1.0", Schema: "https://json.schemastore.org/sarif-2.1.0.json", Runs: []sarifRun{run}}
}

// objects is "1 object" or "n objects".
func objects(n int) string {
	if n == 1 {
		return "1 object"
	}
	return fmt.Sprintf("%d objects", n)
}
