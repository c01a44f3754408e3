package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/plan"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

const planUsage = `Usage: milvus-admission plan [--from VERSION|IMAGE] --to VERSION|IMAGE [-f milvus.yaml] [-o text|yaml] [--policy FILE]

Prints the legal path from one Milvus version to another, each step with
what to change and the rule that asks for it; with -o yaml and -f, the
manifests of each step, ready to commit one by one. Exit status: 0 a path
(or nothing to do), 1 no path, 2 bad input. See docs/plan.md.

Flags:
`

// Output formats of plan.
const (
	planText = "text"
	planYAML = "yaml"
)

// planOptions are the flags of plan.
type planOptions struct {
	from, to, file, output, policyFile string
	mode, msgStreamType                string
}

func (o *planOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.from, "from", "", "The version the Milvus runs, or its image; with -f, read from the manifest.")
	fs.StringVar(&o.to, "to", "", "The version to reach, or its image (its repository is then used for every step).")
	fs.StringVar(&o.file, "f", "", "A manifest holding the Milvus to plan for (- for stdin): its version, mode, mixCoord, message queue and pinned components.")
	for _, name := range []string{"o", "output"} {
		fs.StringVar(&o.output, name, planText, "Output format: text, or yaml (the manifests of each step; needs -f).")
	}
	fs.StringVar(&o.policyFile, "policy", "", "Policy YAML read on top of the built-in default, as the webhook's --policy (docs/policy.md).")
	fs.StringVar(&o.mode, "mode", milvus.ModeCluster, "Without -f: the Milvus's spec.mode, cluster or standalone.")
	fs.StringVar(&o.msgStreamType, "msg-stream-type", "", "The spec.dependencies.msgStreamType to end with; default: unchanged.")
}

// runPlan is the plan subcommand.
func runPlan(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o planOptions
	fs := newFlagSet("plan", planUsage, stderr)
	o.addFlags(fs)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitAllowed
	} else if err != nil {
		return exitInput // the flag package has said why
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "milvus-admission plan:", err)
		var no *plan.Unreachable
		if errors.As(err, &no) {
			return exitDenied
		}
		return exitInput
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q (the Milvus manifest goes with -f)", fs.Arg(0)))
	}
	job, err := o.resolve(stdin)
	if err != nil {
		return fail(err)
	}
	pl, err := plan.Path(job.from, job.to, job.opts, job.policy)
	if err != nil {
		return fail(err)
	}
	if o.output == planYAML {
		err = job.writeYAML(stdout, pl)
	} else {
		err = job.writeText(stdout, pl)
	}
	if err != nil {
		return fail(err)
	}
	return exitAllowed
}

// planJob is what the flags and the manifest resolve to.
type planJob struct {
	from, to milvus.Version
	opts     plan.Options
	policy   *policy.Policy
	// repository is where every step's image comes from.
	repository string
	// milvus is the manifest's Milvus as read (nil without -f).
	milvus map[string]any
}

// resolve checks the flags and reads the policy and the manifest.
func (o *planOptions) resolve(stdin io.Reader) (*planJob, error) {
	switch {
	case o.output != planText && o.output != planYAML:
		return nil, fmt.Errorf("-o %s: one of %s, %s", o.output, planText, planYAML)
	case o.to == "":
		return nil, errors.New("--to is required")
	case o.file == "" && o.from == "":
		return nil, errors.New("--from is required without -f")
	case o.file == "" && o.output == planYAML:
		return nil, errors.New("-o yaml needs the Milvus manifest to edit: pass it with -f")
	case o.mode != milvus.ModeCluster && o.mode != milvus.ModeStandalone:
		return nil, fmt.Errorf("--mode %s: cluster or standalone", o.mode)
	}
	p, err := policy.Load(o.policyFile)
	if err != nil {
		return nil, err
	}
	job := &planJob{policy: p, opts: plan.Options{Mode: o.mode, ToMsgStreamType: o.msgStreamType}}
	var running *milvus.Milvus
	if o.file != "" {
		if running, err = job.readManifest(o.file, stdin); err != nil {
			return nil, err
		}
	}
	if job.to, err = endpoint(o.to, o.from, o.to, policy.MuTargetUnknown); err != nil {
		return nil, err
	}
	switch {
	case o.from != "":
		from, err := endpoint(o.from, o.from, o.to, policy.MuSourceUnknown)
		if err != nil {
			return nil, err
		}
		if !job.from.IsZero() && from.Compare(job.from) != 0 {
			return nil, fmt.Errorf("--from %s, but the Milvus in %s runs %s", o.from, o.file, job.from)
		}
		job.from = from
	case job.from.IsZero():
		_, why := migration.Running(running, nil).RunningVersion()
		return nil, &plan.Unreachable{From: running.Spec.Components.Image, To: o.to, Rule: policy.MuSourceUnknown,
			Why: fmt.Sprintf("%v, and the status names no version; say what runs with --from", why)}
	}
	// Every step's image is in one repository: --to's, else the Milvus's.
	job.repository = p.DefaultRepository
	manifestRepo := ""
	if running != nil {
		manifestRepo = running.ImageRepository()
	}
	for _, repo := range []string{imageRepository(o.from), manifestRepo, imageRepository(o.to)} {
		if repo != "" {
			job.repository = repo
		}
	}
	return job, nil
}

// endpoint reads --from or --to: a version or an image with one. Without
// one there is no plan (*plan.Unreachable, naming rule).
func endpoint(s, from, to string, rule policy.RuleID) (milvus.Version, error) {
	v, err := plan.Version(s)
	if errors.Is(err, milvus.ErrUnverifiable) {
		return v, &plan.Unreachable{From: from, To: to, Rule: rule, Why: err.Error() + "; name a version or an image tagged with one"}
	}
	return v, err
}

// imageRepository is the repository of s when s is an image, not a bare version.
func imageRepository(s string) string {
	if _, err := milvus.ParseVersion(s); err == nil || !strings.ContainsAny(s, ":/@") {
		return ""
	}
	img, err := milvus.ParseImage(s)
	if err != nil {
		return ""
	}
	return img.Repository
}

// readManifest reads the one Milvus of the manifest at path ("-": stdin):
// the version it runs and the planner's options.
func (job *planJob) readManifest(path string, stdin io.Reader) (*milvus.Milvus, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		obj, err := decodeYAML(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if (&unstructured.Unstructured{Object: obj}).GroupVersionKind() != milvus.MilvusKind {
			continue
		}
		if job.milvus != nil {
			return nil, fmt.Errorf("%s holds more than one Milvus; pass a file with the one to plan for", path)
		}
		job.milvus = obj
	}
	if job.milvus == nil {
		return nil, fmt.Errorf("%s holds no %s Milvus", path, milvus.MilvusKind.GroupVersion())
	}
	m, err := plan.View(job.milvus)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	job.from, _ = migration.Running(m, nil).RunningVersion() // zero: --from must say
	mq := job.opts.ToMsgStreamType
	job.opts = plan.OptionsFor(m)
	job.opts.ToMsgStreamType = mq
	return m, nil
}

// decodeYAML decodes one YAML document as a map, numbers kept exact
// (json.Number), so that a field we only copy is written back as it was.
func decodeYAML(doc []byte) (map[string]any, error) {
	data, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if string(bytes.TrimSpace(data)) == "null" {
		return obj, nil // an empty document
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	return obj, nil
}

// writeText prints the path and each step with what to change and why.
func (job *planJob) writeText(w io.Writer, pl plan.Plan) error {
	var b strings.Builder
	b.WriteString(pl.String())
	if len(pl.Hops) == 0 {
		b.WriteString(": nothing to change\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("\n\n")
	for i, h := range pl.Hops {
		fmt.Fprintf(&b, "%d. %s", i+1, heading(h))
		fmt.Fprintf(&b, "\n   %s\n", h)
		if h.By == plan.ByMilvusUpgrade && job.policy.ActionFor(policy.MuMeta) == policy.Generate {
			fmt.Fprintf(&b, "   (or change the image to %s: with MU-META: generate the webhook holds it and has this MilvusUpgrade created)\n", h.To.Tag())
		}
		switch {
		case h.By == plan.ByMilvusUpgrade:
			fmt.Fprintf(&b, "   targetImage: %s:%s\n", job.repository, h.To.Tag())
		case h.IsImage():
			fmt.Fprintf(&b, "   image: %s:%s\n", job.repository, h.To.Tag())
		}
		fmt.Fprintf(&b, "   why: %s\n", h.Why)
		for _, n := range h.Notes {
			fmt.Fprintf(&b, "   warning: [%s] %s\n", n.Rule, n.Text)
		}
	}
	for _, n := range pl.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// heading is "v2.2.16 → v2.5.16 by image (rollingUpgrade) [MU-26]".
func heading(h plan.Hop) string {
	s := fmt.Sprintf("%s → %s by %s", h.From.Tag(), h.To.Tag(), h.By)
	if h.By == plan.BySpec {
		s = fmt.Sprintf("%s: spec only", h.From.Tag())
	}
	if h.Rule != "" {
		s += " [" + string(h.Rule) + "]"
	}
	return s
}

// writeYAML prints the manifests of each step: the Milvus as the step leaves
// it (the file's object with only the step's fields changed) and, for a
// migration, the MilvusUpgrade to apply before it, as the defaulting webhook
// would complete it.
func (job *planJob) writeYAML(w io.Writer, pl plan.Plan) error {
	cur := manifestOf(job.milvus)
	var out bytes.Buffer
	if len(pl.Hops) == 0 {
		fmt.Fprintf(&out, "# %s: nothing to change\n", pl)
	}
	for i, h := range pl.Hops {
		step := fmt.Sprintf("Step %d of %d: %s", i+1, len(pl.Hops), heading(h))
		if h.By == plan.ByMilvusUpgrade {
			u, err := job.upgrade(cur, h)
			if err != nil {
				return fmt.Errorf("step %d: %w", i+1, err)
			}
			if err := document(&out, step+". Apply this MilvusUpgrade and wait until its status.state is Succeeded: the operator migrates the metadata and writes the new image itself.", u); err != nil {
				return err
			}
			step = fmt.Sprintf("Step %d of %d, then: commit the Milvus as the operator left it (image %s), so that git says what runs.", i+1, len(pl.Hops), h.To.Tag())
		} else if h.IsImage() {
			step += fmt.Sprintf(". Commit, and wait until status.currentVersion is %s.", h.To.Tag())
		} else {
			step += ". Commit."
		}
		next := runtime.DeepCopyJSON(cur)
		if err := h.Apply(next, job.repository); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if err := document(&out, step, next); err != nil {
			return err
		}
		cur = next
	}
	_, err := w.Write(out.Bytes())
	return err
}

// upgrade is the MilvusUpgrade of a migration hop from the Milvus m, built
// as the controller builds it and defaulted as the mutating webhook does.
// It carries no label of ours: git, not milvus-admission, manages it.
func (job *planJob) upgrade(m map[string]any, h plan.Hop) (map[string]any, error) {
	view, err := plan.View(m)
	if err != nil {
		return nil, err
	}
	if view.Name == "" {
		return nil, errors.New("the Milvus has no metadata.name to name the MilvusUpgrade after")
	}
	view.Status = milvus.MilvusStatus{CurrentVersion: h.From.Tag()} // what runs at this step
	in := migration.Intent{UpgradeName: migration.UpgradeName(view.Name, h.To), Target: h.To}
	u, err := migration.BuildUpgrade(view, nil, in, job.policy)
	if err != nil {
		return nil, err
	}
	// The image every step writes, which the operator hands over.
	if err := unstructured.SetNestedField(u.Object, job.repository+":"+h.To.Tag(), "spec", "targetImage"); err != nil {
		return nil, err
	}
	if _, err := mutate.MilvusUpgrade(u.Object, view.Namespace, nil, view, job.policy); err != nil {
		return nil, err
	}
	u.SetLabels(nil)
	if view.Namespace == "" {
		unstructured.RemoveNestedField(u.Object, "metadata", "namespace")
		unstructured.RemoveNestedField(u.Object, "spec", "milvus", "namespace")
	}
	return u.Object, nil
}

// serverFields are what the API server writes into an object: a manifest to
// commit never carries them (kubectl apply with a stale resourceVersion fails).
var serverFields = [][]string{
	{"status"}, {"metadata", "resourceVersion"}, {"metadata", "uid"}, {"metadata", "generation"},
	{"metadata", "creationTimestamp"}, {"metadata", "managedFields"},
}

// manifestOf is obj without the fields the API server writes; everything
// else, fields unknown to us included, stays.
func manifestOf(obj map[string]any) map[string]any {
	out := runtime.DeepCopyJSON(obj)
	for _, f := range serverFields {
		unstructured.RemoveNestedField(out, f...)
	}
	return out
}

// document writes one YAML document led by a comment.
func document(w *bytes.Buffer, comment string, obj map[string]any) error {
	data, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	if w.Len() > 0 {
		w.WriteString("---\n")
	}
	fmt.Fprintf(w, "# %s\n", comment)
	w.Write(data)
	return nil
}
