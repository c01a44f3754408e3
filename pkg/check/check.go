// Package check judges Milvus and MilvusUpgrade manifests before the
// cluster does, with the cluster's own decisions: it runs the webhook's
// handlers (pkg/webhook.Handlers) in-process on the admission requests the
// API server would send for `kubectl apply` of each manifest — the
// mutating handler first, its patch applied, then the validating handler
// on the result; a CREATE when the base has no such object, else an UPDATE
// of the base object — with a Lookup over the base in place of the
// informer cache.
//
// The base is what the cluster holds before the change: other manifests
// (the target branch, a git revision) as kubectl apply would have stored
// them, or the live objects with their status. Each object of the change is
// judged against the base alone, as `kubectl apply --dry-run=server` judges
// it: objects of the change do not see each other.
package check

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
)

// DefaultUser is the user name of the requests check makes when none is
// given: not one of the policy's operator identities, as a GitOps tool or a
// person is not.
const DefaultUser = "milvus-admission-check"

// controllerUser is who creates a generated MilvusUpgrade: the webhook's
// own ServiceAccount (manifests/serviceaccount.yaml).
const controllerUser = "system:serviceaccount:milvus-admission:milvus-admission"

// The names of the webhooks in the shipped configurations
// (manifests/webhooks.yaml): the API server names the one that denied.
var validatingWebhookName = map[string]string{
	milvus.MilvusKind.Kind:        "validate.milvus.milvus-admission.io",
	milvus.MilvusUpgradeKind.Kind: "validate.milvusupgrade.milvus-admission.io",
}

// paths are the admission paths of each kind: mutating, validating.
var paths = map[string][2]string{
	milvus.MilvusKind.Kind:        {webhook.MutateMilvusPath, webhook.ValidateMilvusPath},
	milvus.MilvusUpgradeKind.Kind: {webhook.MutateMilvusUpgradePath, webhook.ValidateMilvusUpgradePath},
}

var resources = map[string]string{
	milvus.MilvusKind.Kind:        "milvuses",
	milvus.MilvusUpgradeKind.Kind: "milvusupgrades",
}

// Options configure a Checker.
type Options struct {
	// Policy is the webhook's policy; nil is the embedded default.
	Policy *policy.Policy
	// User is the requests' user name (the operator-identity rules read
	// it); "" is DefaultUser.
	User string
}

// Base is what the cluster holds before the change.
type Base struct {
	// Objects are the base's Milvus and MilvusUpgrade objects.
	Objects []Object
	// Live says the objects are read from a cluster, as stored. Otherwise
	// they are manifests, stored as kubectl apply would have created them
	// through the webhook.
	Live bool
	// Name says what the base is, for the report: "none", a path, "git:REF", "live".
	Name string
}

// Checker judges manifests against a base.
type Checker struct {
	policy *policy.Policy
	user   string
	base   store
	seq    int
}

// New prepares a Checker over base.
func New(ctx context.Context, o Options, base Base) (*Checker, error) {
	c := &Checker{policy: o.Policy, user: o.User, base: store{}}
	if c.policy == nil {
		c.policy = policy.Default()
	}
	if c.user == "" {
		c.user = DefaultUser
	}
	if base.Live {
		for _, obj := range base.Objects {
			c.base[obj.key()] = obj.JSON
		}
		return c, nil
	}
	// kubectl apply created each: the manifest with its last-applied
	// annotation, defaulted by the mutating webhook.
	created := store{}
	for _, obj := range base.Objects {
		data, err := applyCreate(obj.JSON)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", obj.File, obj.Line, err)
		}
		created[obj.key()] = data
	}
	handlers := webhook.Handlers(c.policy, created)
	for _, obj := range base.Objects {
		data := created[obj.key()]
		resp := c.call(ctx, handlers, paths[obj.GVK.Kind][0], c.request(obj, admissionv1.Create, data, nil, c.user))
		if !resp.Allowed {
			return nil, fmt.Errorf("%s:%d: %s %s/%s: %s", obj.File, obj.Line, obj.GVK.Kind, obj.Namespace, obj.Name, resp.Result.Message)
		}
		stored, err := patch(data, resp)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", obj.File, obj.Line, err)
		}
		c.base[obj.key()] = stored
	}
	return c, nil
}

// Run judges every object of the change against base.
func Run(ctx context.Context, o Options, base Base, change []Object) (*Report, error) {
	c, err := New(ctx, o, base)
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", base.Name, err)
	}
	r := &Report{APIVersion: ReportAPIVersion, Kind: ReportKind, Base: base.Name, User: c.user, Results: []Result{}}
	for _, obj := range change {
		res, err := c.Judge(ctx, obj)
		if err != nil {
			return nil, err
		}
		r.add(res)
	}
	return r, nil
}

// Judge decides one object of the change. An error is bad input: the
// webhook could not read the object.
func (c *Checker) Judge(ctx context.Context, o Object) (Result, error) {
	r := Result{
		File: o.File, Line: o.Line, APIVersion: o.GVK.GroupVersion().String(), Kind: o.GVK.Kind,
		Namespace: o.Namespace, Name: o.Name,
		Rules: []string{}, Warnings: []Warning{}, FieldErrors: []FieldError{}, Patch: []JSONPatchOp{},
	}
	fail := func(err error) (Result, error) {
		return Result{}, fmt.Errorf("%s:%d: %s %s/%s: %w", o.File, o.Line, o.GVK.Kind, o.Namespace, o.Name, err)
	}
	old, exists := c.base[o.key()]
	var cur []byte
	var err error
	if exists {
		r.Operation = string(admissionv1.Update)
		var changed bool
		if cur, changed, err = applyUpdate(o.JSON, old); err != nil {
			return fail(err)
		}
		if !changed {
			r.Decision = Unchanged
			return r, nil
		}
	} else {
		r.Operation = string(admissionv1.Create)
		if cur, err = applyCreate(o.JSON); err != nil {
			return fail(err)
		}
	}
	handlers := webhook.Handlers(c.policy, c.base)
	mutatePath, validatePath := paths[o.GVK.Kind][0], paths[o.GVK.Kind][1]
	req := c.request(o, admissionv1.Operation(r.Operation), cur, old, c.user)

	requested, sent := cur, false
	if mutatingCalled(o.GVK.Kind, old, cur) {
		sent = true
		resp := c.call(ctx, handlers, mutatePath, req)
		if !resp.Allowed {
			return fail(fmt.Errorf("the mutating webhook cannot read it: %s", resp.Result.Message))
		}
		r.addResponse(resp, o)
		if cur, err = patch(cur, resp); err != nil {
			return fail(err)
		}
		r.Patch = patchOps(resp)
	}
	if !validatingCalled(o.GVK.Kind, old, cur) {
		r.Decision, r.NotSent = Allowed, !sent
		return r, nil
	}
	req.Object = runtime.RawExtension{Raw: cur}
	resp := c.call(ctx, handlers, validatePath, req)
	if !resp.Allowed && resp.Result.Code != http.StatusUnprocessableEntity && resp.Result.Code != http.StatusForbidden {
		return fail(fmt.Errorf("the validating webhook cannot read it: %s", resp.Result.Message))
	}
	r.addResponse(resp, o)
	switch {
	case !resp.Allowed:
		r.Decision = Denied
		r.denial(resp.Result, validatingWebhookName[o.GVK.Kind], o)
	case o.GVK == milvus.MilvusKind && held(requested, cur):
		r.Decision = Held
		if err := c.generate(ctx, cur, &r); err != nil {
			return fail(err)
		}
	default:
		r.Decision = Allowed
	}
	return r, nil
}

// request is the AdmissionRequest the API server sends for kubectl apply
// with --dry-run=server: the object (and on UPDATE the stored one), the
// user, and the options with kubectl's field manager.
func (c *Checker) request(o Object, op admissionv1.Operation, cur, old []byte, user string) admission.Request {
	c.seq++
	gvk := metav1.GroupVersionKind{Group: o.GVK.Group, Version: o.GVK.Version, Kind: o.GVK.Kind}
	gvr := metav1.GroupVersionResource{Group: o.GVK.Group, Version: o.GVK.Version, Resource: resources[o.GVK.Kind]}
	var opts any = metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}, FieldManager: fieldManager}
	if op == admissionv1.Update {
		opts = metav1.UpdateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "UpdateOptions"}, FieldManager: fieldManager}
	}
	rawOpts, _ := json.Marshal(opts) // plain structs: cannot fail
	req := admissionv1.AdmissionRequest{
		UID:  types.UID(fmt.Sprintf("milvus-admission-check-%d", c.seq)),
		Kind: gvk, Resource: gvr, RequestKind: &gvk, RequestResource: &gvr,
		Name: o.Name, Namespace: o.Namespace, Operation: op,
		UserInfo: authenticationv1.UserInfo{Username: user},
		Object:   runtime.RawExtension{Raw: cur},
		DryRun:   ptr.To(true),
		Options:  runtime.RawExtension{Raw: rawOpts},
	}
	if old != nil {
		req.OldObject = runtime.RawExtension{Raw: old}
	}
	return admission.Request{AdmissionRequest: req}
}

// call runs one handler as controller-runtime's webhook server would, its
// response completed as the API server receives it. The handlers log
// through the context: check keeps them quiet.
func (c *Checker) call(ctx context.Context, handlers map[string]admission.Handler, path string, req admission.Request) (resp admission.Response) {
	defer func() {
		// The server recovers a handler's panic into a 500; so does check.
		if p := recover(); p != nil {
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("the webhook panicked: %v", p))
		}
	}()
	resp = handlers[path].Handle(logf.IntoContext(ctx, logr.Discard()), req)
	if err := resp.Complete(req); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return resp
}

// patch applies a mutating response's JSON patch.
func patch(obj []byte, resp admission.Response) ([]byte, error) {
	if len(resp.Patch) == 0 {
		return obj, nil
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		return nil, fmt.Errorf("decoding the webhook's patch: %w", err)
	}
	out, err := p.Apply(obj)
	if err != nil {
		return nil, fmt.Errorf("applying the webhook's patch: %w", err)
	}
	return out, nil
}

func patchOps(resp admission.Response) []JSONPatchOp {
	out := make([]JSONPatchOp, 0, len(resp.Patches))
	for _, op := range resp.Patches {
		out = append(out, JSONPatchOp{Op: op.Operation, Path: op.Path, Value: op.Value})
	}
	return out
}

// held reports that the mutating webhook held the change: it put another
// global image or version back and recorded the intent.
func held(requested, mutated []byte) bool {
	var before, after milvus.Milvus
	if json.Unmarshal(requested, &before) != nil || json.Unmarshal(mutated, &after) != nil {
		return false
	}
	_, ok, _ := migration.IntentOf(&after)
	return ok && (before.Spec.Components.Image != after.Spec.Components.Image || before.Spec.Components.Version != after.Spec.Components.Version)
}

// generate fills in the MilvusUpgrade the controller creates for a held
// Milvus, as stored: built by migration.BuildUpgrade from the persisted
// Milvus, then through the MilvusUpgrade webhooks as the controller's
// create is. The controller sets an ownerReference to the Milvus too.
func (c *Checker) generate(ctx context.Context, stored []byte, r *Result) error {
	var m milvus.Milvus
	if err := json.Unmarshal(stored, &m); err != nil {
		return err
	}
	in, _, err := migration.IntentOf(&m)
	if err != nil {
		return err
	}
	persisted := maps.Clone(c.base)
	persisted[key{milvus.MilvusKind.Kind, m.Namespace, m.Name}] = stored
	upgrades, err := persisted.UpgradesFor(ctx, m.Namespace, m.Name)
	if err != nil {
		return err
	}
	u, err := migration.BuildUpgrade(&m, upgrades, in, c.policy)
	if err != nil {
		r.GeneratedRefused = err.Error()
		return nil
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	obj := Object{GVK: milvus.MilvusUpgradeKind, Namespace: u.GetNamespace(), Name: u.GetName()}
	handlers := webhook.Handlers(c.policy, persisted)
	req := c.request(obj, admissionv1.Create, data, nil, controllerUser)
	if resp := c.call(ctx, handlers, webhook.MutateMilvusUpgradePath, req); resp.Allowed {
		if data, err = patch(data, resp); err != nil {
			return err
		}
	}
	req.Object = runtime.RawExtension{Raw: data}
	if resp := c.call(ctx, handlers, webhook.ValidateMilvusUpgradePath, req); !resp.Allowed {
		r.GeneratedRefused = resp.Result.Message
	}
	return json.Unmarshal(data, &r.Generated)
}

// ruleID finds the rule ID that leads a denial's detail or a warning.
var ruleID = regexp.MustCompile(`\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\]`)

// warningField splits a warning "[RULE] field.path: text".
var warningField = regexp.MustCompile(`^\[[A-Z0-9-]+\] ([^ :]+): `)

// addResponse records a response's warnings and the rules its audit
// annotation names.
func (r *Result) addResponse(resp admission.Response, o Object) {
	for _, w := range resp.Warnings {
		if slices.ContainsFunc(r.Warnings, func(x Warning) bool { return x.Text == w }) {
			continue // the API server sends a warning once
		}
		wa := Warning{Text: w, Line: o.Line}
		if m := ruleID.FindStringSubmatch(w); m != nil && strings.HasPrefix(w, m[0]) {
			wa.Rule = m[1]
		}
		if m := warningField.FindStringSubmatch(w); m != nil {
			wa.Field = m[1]
			wa.Line = o.FieldLine(wa.Field)
		}
		r.Warnings = append(r.Warnings, wa)
	}
	for _, rule := range strings.Split(resp.AuditAnnotations[webhook.AuditRules], ",") {
		if rule != "" && !slices.Contains(r.Rules, rule) {
			r.Rules = append(r.Rules, rule)
		}
	}
}

// denial records a denial: the API server's message (the webhook's,
// prefixed with its name), kubectl's rendering of it, and each field error.
func (r *Result) denial(status *metav1.Status, webhookName string, o Object) {
	r.Reason = string(status.Reason)
	r.ServerMessage = fmt.Sprintf("admission webhook %q denied the request: %s", webhookName, status.Message)
	r.Message = kubectlMessage(status, r.ServerMessage)
	if status.Details == nil {
		return
	}
	for _, cause := range status.Details.Causes {
		fe := FieldError{Field: cause.Field, Type: string(cause.Type), Message: cause.Message, Line: o.FieldLine(cause.Field)}
		if m := ruleID.FindStringSubmatch(cause.Message); m != nil {
			fe.Rule = m[1]
		}
		r.FieldErrors = append(r.FieldErrors, fe)
	}
}

// kubectlMessage is how kubectl prints a rejection (k8s.io/kubectl
// cmd/util checkErr): an Invalid status as "The KIND "NAME" is invalid: "
// and its causes, one per line when there are several; anything else as
// the server's message.
func kubectlMessage(status *metav1.Status, serverMessage string) string {
	if status.Reason != metav1.StatusReasonInvalid || status.Details == nil {
		return "Error from server: " + serverMessage
	}
	d := status.Details
	var causes []string
	for _, c := range d.Causes {
		if msg := c.Field + ": " + c.Message; !slices.Contains(causes, msg) {
			causes = append(causes, msg)
		}
	}
	s := fmt.Sprintf("The %s %q is invalid", d.Kind, d.Name)
	switch len(causes) {
	case 0:
		return s
	case 1:
		return s + ": " + causes[0]
	}
	return s + ": \n* " + strings.Join(causes, "\n* ")
}
