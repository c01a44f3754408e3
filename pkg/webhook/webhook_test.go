package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// fakeLookup is an in-memory Lookup.
type fakeLookup struct {
	milvuses map[string]*milvus.Milvus
	upgrades []milvus.MilvusUpgrade
	err      error
}

func (f *fakeLookup) Milvus(_ context.Context, ns, name string) (*milvus.Milvus, error) {
	return f.milvuses[ns+"/"+name], f.err
}

func (f *fakeLookup) UpgradesFor(_ context.Context, ns, name string) ([]milvus.MilvusUpgrade, error) {
	var out []milvus.MilvusUpgrade
	for _, u := range f.upgrades {
		if u.Spec.Milvus.Name == name && u.TargetNamespace() == ns {
			out = append(out, u)
		}
	}
	return out, f.err
}

// server serves the four paths as the webhook server does.
func server(t *testing.T, lookup Lookup) *httptest.Server {
	t.Helper()
	return serverWith(t, lookup, policy.Default())
}

// serverWith serves the four paths with policy p.
func serverWith(t *testing.T, lookup Lookup, p *policy.Policy) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for path, h := range Handlers(p, lookup) {
		hh, err := admission.StandaloneWebhook(&admission.Webhook{Handler: h}, admission.StandaloneOptions{Logger: logr.Discard()})
		require.NoError(t, err)
		mux.Handle(path, hh)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const (
	milvusOld  = `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","namespace":"default"},"spec":{"components":{"image":"%s"}}}`
	upgradeNew = `{"apiVersion":"milvus.io/v1beta1","kind":"MilvusUpgrade","metadata":{"name":"up","namespace":"default"},"spec":{"milvus":{"name":"my-release"},"sourceVersion":"v2.1.4","targetVersion":"%s"}}`
)

type review struct {
	namespace string // "default" when empty
	op        admissionv1.Operation
	kind      string
	user      string
	object    string
	old       string
	resource  string
}

// post sends a raw AdmissionReview and returns the response part.
func post(t *testing.T, srv *httptest.Server, path string, r review) *admissionv1.AdmissionResponse {
	t.Helper()
	req := admissionv1.AdmissionRequest{
		UID:       types.UID("uid-1"),
		Kind:      metav1.GroupVersionKind{Group: "milvus.io", Version: "v1beta1", Kind: r.kind},
		Resource:  metav1.GroupVersionResource{Group: "milvus.io", Version: "v1beta1", Resource: r.resource},
		Name:      "my-release",
		Namespace: cmp.Or(r.namespace, "default"),
		Operation: r.op,
		UserInfo:  authenticationv1.UserInfo{Username: r.user},
		Object:    runtime.RawExtension{Raw: []byte(r.object)},
	}
	if r.old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(r.old)}
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	})
	require.NoError(t, err)
	resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out admissionv1.AdmissionReview
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.NotNil(t, out.Response)
	assert.Equal(t, req.UID, out.Response.UID)
	return out.Response
}

func milvusUpdate(from, to, user string) review {
	return review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses", user: user,
		old: fmt.Sprintf(milvusOld, from), object: fmt.Sprintf(milvusOld, to)}
}

func patchOf(t *testing.T, r *admissionv1.AdmissionResponse) []map[string]any {
	t.Helper()
	if r.Patch == nil {
		return nil
	}
	require.NotNil(t, r.PatchType)
	assert.Equal(t, admissionv1.PatchTypeJSONPatch, *r.PatchType)
	var ops []map[string]any
	require.NoError(t, json.Unmarshal(r.Patch, &ops))
	return ops
}

func TestValidateMilvus(t *testing.T) {
	// The operator is migrating the metadata of my-release.
	lookup := &fakeLookup{upgrades: []milvus.MilvusUpgrade{{
		Spec:   milvus.MilvusUpgradeSpec{Milvus: milvus.ObjectReference{Name: "my-release"}, TargetImage: "milvusdb/milvus:v2.2.16"},
		Status: milvus.MilvusUpgradeStatus{State: "UpdatingMeta"},
	}}}
	lookup.upgrades[0].Name, lookup.upgrades[0].Namespace = "by-hand", "default"
	srv := server(t, lookup)

	t.Run("2.1.4 to 2.4.23 is a 422 naming the field and rule", func(t *testing.T) {
		r := post(t, server(t, &fakeLookup{}), ValidateMilvusPath, milvusUpdate("milvusdb/milvus:v2.1.4", "milvusdb/milvus:v2.4.23", "alice"))
		assert.False(t, r.Allowed)
		require.NotNil(t, r.Result)
		assert.Equal(t, int32(http.StatusUnprocessableEntity), r.Result.Code)
		assert.Equal(t, metav1.StatusReasonInvalid, r.Result.Reason)
		require.NotNil(t, r.Result.Details)
		assert.Equal(t, "Milvus", r.Result.Details.Kind)
		assert.Equal(t, "my-release", r.Result.Details.Name)
		require.Len(t, r.Result.Details.Causes, 1)
		assert.Equal(t, "spec.components.image", r.Result.Details.Causes[0].Field)
		assert.Contains(t, r.Result.Details.Causes[0].Message, "[MU-META]")
		assert.Contains(t, r.Result.Message, `Milvus.milvus.io "my-release" is invalid: spec.components.image`)
		assert.Equal(t, map[string]string{AuditDecision: "denied", AuditRules: "MU-META"}, r.AuditAnnotations)
	})
	t.Run("2.2.0 to 2.4.23 is allowed with the downtime warning", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusPath, milvusUpdate("milvusdb/milvus:v2.2.0", "milvusdb/milvus:v2.4.23", "alice"))
		assert.True(t, r.Allowed)
		require.Len(t, r.Warnings, 1)
		assert.Contains(t, r.Warnings[0], "[MU-ROLLING]")
		assert.LessOrEqual(t, len([]rune(r.Warnings[0])), 120)
		assert.Equal(t, map[string]string{AuditDecision: "allowed with warnings", AuditRules: "MU-ROLLING"}, r.AuditAnnotations)
	})
	t.Run("the operator writing the upgrade's targetImage passes", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusPath, milvusUpdate("milvusdb/milvus:v2.1.4", "milvusdb/milvus:v2.2.16", "system:serviceaccount:milvus-operator:milvus-operator"))
		assert.True(t, r.Allowed, "%v", r.Result)
		assert.Equal(t, map[string]string{AuditDecision: "allowed"}, r.AuditAnnotations)
	})
	t.Run("a user writing the same image is denied", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusPath, milvusUpdate("milvusdb/milvus:v2.1.4", "milvusdb/milvus:v2.2.16", "alice"))
		assert.False(t, r.Allowed)
	})
	t.Run("once the metadata is migrated, the hand-off passes whoever writes it, with a warning", func(t *testing.T) {
		migrated := *lookup
		migrated.upgrades = []milvus.MilvusUpgrade{lookup.upgrades[0]}
		migrated.upgrades[0].Status.State = "NewVersionStarting"
		r := post(t, server(t, &migrated), ValidateMilvusPath, milvusUpdate("milvusdb/milvus:v2.1.4", "milvusdb/milvus:v2.2.16", "system:serviceaccount:ops:renamed-operator"))
		assert.True(t, r.Allowed, "%v", r.Result)
		assert.Equal(t, []string{"[MU-UP-IDENTITY] spec.components.image: system:serviceaccount:ops:renamed-operator is not a listed operator identity"}, r.Warnings)
		assert.Equal(t, map[string]string{AuditDecision: "allowed with warnings", AuditRules: "MU-UP-IDENTITY"}, r.AuditAnnotations)
	})
	t.Run("DELETE is let through", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusPath, review{op: admissionv1.Delete, kind: "Milvus", resource: "milvuses", object: "null", old: fmt.Sprintf(milvusOld, "x:v1.0.0")})
		assert.True(t, r.Allowed)
	})
}

func TestBadInput(t *testing.T) {
	srv := server(t, &fakeLookup{})
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`
	for _, path := range []string{MutateMilvusPath, ValidateMilvusPath, MutateMilvusUpgradePath, ValidateMilvusUpgradePath} {
		t.Run("wrong kind on "+path, func(t *testing.T) {
			r := post(t, srv, path, review{op: admissionv1.Create, kind: "Pod", object: pod})
			assert.False(t, r.Allowed)
			assert.Equal(t, int32(http.StatusBadRequest), r.Result.Code)
			assert.Contains(t, r.Result.Message, `got apiVersion "v1" kind "Pod"`)
		})
		t.Run("malformed object on "+path, func(t *testing.T) {
			r := post(t, srv, path, review{op: admissionv1.Create, kind: "Milvus", object: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","spec":{"components":{"image":42}}}`})
			assert.False(t, r.Allowed)
			assert.Equal(t, int32(http.StatusBadRequest), r.Result.Code)
		})
	}
	t.Run("components that is not an object", func(t *testing.T) {
		r := post(t, srv, MutateMilvusPath, review{op: admissionv1.Create, kind: "Milvus",
			object: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","spec":{"components":[]}}`})
		assert.False(t, r.Allowed)
		assert.Equal(t, int32(http.StatusBadRequest), r.Result.Code)
	})
}

// Only admission requests get an answer: anything else is a 400 that says
// what is missing, never "allowed".
func TestNotAReview(t *testing.T) {
	srv := server(t, &fakeLookup{})
	for _, tc := range []struct{ name, body, says string }{
		{"null", `null`, "request.uid is missing"},
		{"empty object", `{}`, "request.uid is missing"},
		{"review without request", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "request.uid is missing"},
		{"no operation", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1"}}`, "request.operation is missing"},
		{"unknown operation", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"PATCH"}}`, `request.operation "PATCH" is not`},
	} {
		for _, path := range []string{MutateMilvusPath, ValidateMilvusPath, MutateMilvusUpgradePath, ValidateMilvusUpgradePath} {
			t.Run(tc.name+" on "+path, func(t *testing.T) {
				resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(tc.body))
				require.NoError(t, err)
				defer resp.Body.Close()
				var out admissionv1.AdmissionReview
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
				require.NotNil(t, out.Response)
				assert.False(t, out.Response.Allowed)
				require.NotNil(t, out.Response.Result)
				assert.Equal(t, int32(http.StatusBadRequest), out.Response.Result.Code)
				assert.Contains(t, out.Response.Result.Message, tc.says)
			})
		}
	}
}

func TestMutateMilvus(t *testing.T) {
	srv := server(t, &fakeLookup{})
	r := post(t, srv, MutateMilvusPath, review{op: admissionv1.Create, kind: "Milvus", resource: "milvuses",
		object: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"},"spec":{"futureField":{"x":1}}}`})
	assert.True(t, r.Allowed)
	assert.Equal(t, []map[string]any{
		{"op": "add", "path": "/spec/components", "value": map[string]any{}},
		{"op": "add", "path": "/spec/components/imageUpdateMode", "value": "rollingUpgrade"},
	}, patchOf(t, r))
	assert.Equal(t, "defaulted /spec/components,/spec/components/imageUpdateMode", r.AuditAnnotations[AuditDecision])

	r = post(t, srv, MutateMilvusPath, review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses",
		old:    `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"}}`,
		object: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"},"spec":{"components":{"imageUpdateMode":"all"}}}`})
	assert.True(t, r.Allowed)
	assert.Nil(t, patchOf(t, r), "nothing to default: no patch")
}

func TestMilvusUpgradePaths(t *testing.T) {
	target := &milvus.Milvus{}
	target.Name, target.Namespace = "my-release", "default"
	target.Spec.Components.Image = "10.20.12.8:5000/milvusdb/milvus:v2.1.4"
	target.Status.CurrentVersion = "v2.1.4"
	srv := server(t, &fakeLookup{milvuses: map[string]*milvus.Milvus{"default/my-release": target}})

	t.Run("defaults keep the Milvus's registry", func(t *testing.T) {
		r := post(t, srv, MutateMilvusUpgradePath, review{op: admissionv1.Create, kind: "MilvusUpgrade", resource: "milvusupgrades",
			object: fmt.Sprintf(upgradeNew, "v2.2.16")})
		assert.True(t, r.Allowed)
		assert.Contains(t, patchOf(t, r), map[string]any{"op": "add", "path": "/spec/targetImage", "value": "10.20.12.8:5000/milvusdb/milvus:v2.2.16"})
		assert.Contains(t, patchOf(t, r), map[string]any{"op": "add", "path": "/spec/milvus/namespace", "value": "default"})
	})
	t.Run("2.1.4 to 2.2.16 is allowed", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusUpgradePath, review{op: admissionv1.Create, kind: "MilvusUpgrade", resource: "milvusupgrades",
			object: fmt.Sprintf(upgradeNew, "v2.2.16")})
		assert.True(t, r.Allowed, "%v", r.Result)
	})
	t.Run("2.1.4 to 2.4.23 is a 422 explaining the waypoint", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusUpgradePath, review{op: admissionv1.Create, kind: "MilvusUpgrade", resource: "milvusupgrades",
			object: fmt.Sprintf(upgradeNew, "v2.4.23")})
		assert.False(t, r.Allowed)
		assert.Equal(t, int32(http.StatusUnprocessableEntity), r.Result.Code)
		require.Len(t, r.Result.Details.Causes, 1)
		assert.Equal(t, "spec.targetVersion", r.Result.Details.Causes[0].Field)
		assert.Contains(t, r.Result.Details.Causes[0].Message, "set targetVersion to v2.2.16")
	})
}

func TestCacheFailureFailsClosed(t *testing.T) {
	srv := server(t, &fakeLookup{err: errors.New("cache not started")})
	r := post(t, srv, ValidateMilvusUpgradePath, review{op: admissionv1.Create, kind: "MilvusUpgrade", resource: "milvusupgrades",
		object: fmt.Sprintf(upgradeNew, "v2.2.16")})
	assert.False(t, r.Allowed)
	assert.Equal(t, int32(http.StatusInternalServerError), r.Result.Code)
	assert.Contains(t, r.Result.Message, "cache not started")
}
