package mutate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/utils/ptr"

	"github.com/milvus-admission/milvus-admission/internal/shared"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

func object(t *testing.T, js string) map[string]any {
	t.Helper()
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(js), &obj))
	return obj
}

func add(path string, value any) jsonpatch.Operation {
	return jsonpatch.NewOperation("add", path, value)
}

func TestMilvusDefaults(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want []jsonpatch.Operation
	}{
		{name: "no spec at all", obj: `{"kind":"Milvus"}`, want: []jsonpatch.Operation{
			add("/spec", map[string]any{}), add("/spec/components", map[string]any{}), add("/spec/components/imageUpdateMode", "rollingUpgrade")}},
		{name: "spec without components", obj: `{"spec":{"mode":"cluster"}}`, want: []jsonpatch.Operation{
			add("/spec/components", map[string]any{}), add("/spec/components/imageUpdateMode", "rollingUpgrade")}},
		{name: "components without a mode", obj: `{"spec":{"components":{"image":"milvusdb/milvus:v2.4.23"}}}`, want: []jsonpatch.Operation{
			add("/spec/components/imageUpdateMode", "rollingUpgrade")}},
		{name: "null mode counts as unset", obj: `{"spec":{"components":{"imageUpdateMode":null}}}`, want: []jsonpatch.Operation{
			add("/spec/components/imageUpdateMode", "rollingUpgrade")}},
		{name: "the user's mode is kept", obj: `{"spec":{"components":{"imageUpdateMode":"all"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := Milvus(object(t, tc.obj))
			require.NoError(t, err)
			assert.Equal(t, tc.want, ops)
		})
	}
	t.Run("components that is not an object is an error", func(t *testing.T) {
		_, err := Milvus(object(t, `{"spec":{"components":"oops"}}`))
		require.EqualError(t, err, "spec.components is a string, not an object")
	})
}

func TestMilvusUpgradeDefaults(t *testing.T) {
	p := policy.Default()
	privateMilvus := &milvus.Milvus{Spec: milvus.MilvusSpec{Components: milvus.Components{Component: milvus.Component{Image: "harbor.example.com:8443/milvusdb/milvus:v2.1.4"}}}}
	tests := []struct {
		name   string
		obj    string
		target *milvus.Milvus
		want   []jsonpatch.Operation
	}{
		{name: "everything defaulted, target Milvus in a private registry",
			obj:    `{"spec":{"milvus":{"name":"my-release"},"sourceVersion":"v2.1.4","targetVersion":"v2.2.16"}}`,
			target: privateMilvus,
			want: []jsonpatch.Operation{
				add("/spec/toolImage", "milvusdb/meta-migration:v2.2.0"), add("/spec/maxRetry", int64(3)),
				add("/spec/rollbackIfFailed", true), add("/spec/operation", "upgrade"),
				add("/spec/milvus/namespace", "default"),
				add("/spec/targetImage", "harbor.example.com:8443/milvusdb/milvus:v2.2.16"),
			}},
		{name: "no Milvus known: default repository, tag gets its v",
			obj: `{"spec":{"milvus":{"name":"my-release","namespace":"default"},"sourceVersion":"2.1.4","targetVersion":"2.2.16","toolImage":"mirror/meta-migration:v2.2.0","operation":"upgrade"}}`,
			want: []jsonpatch.Operation{
				add("/spec/maxRetry", int64(3)), add("/spec/rollbackIfFailed", true),
				add("/spec/targetImage", "milvusdb/milvus:v2.2.16"),
			}},
		{name: "explicit false and 0 are the user's",
			obj:  `{"spec":{"milvus":{"name":"m","namespace":"default"},"sourceVersion":"v2.1.4","targetVersion":"v2.2.16","maxRetry":0,"rollbackIfFailed":false,"toolImage":"t:v1","operation":"rollback","targetImage":"r/m:v2.2.16"}}`,
			want: nil},
		{name: "unparsable targetVersion gets no targetImage",
			obj: `{"spec":{"milvus":{"name":"m","namespace":"default"},"targetVersion":"latest","maxRetry":1,"rollbackIfFailed":true,"toolImage":"t:v1","operation":"upgrade"}}`},
		{name: "no spec.milvus: no namespace to default",
			obj: `{"spec":{"maxRetry":1,"rollbackIfFailed":true,"toolImage":"t:v1","operation":"upgrade"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := MilvusUpgrade(object(t, tc.obj), "default", nil, tc.target, p)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ops)
		})
	}
}

// apply runs the patch over raw exactly as the API server would.
func apply(t *testing.T, raw []byte, ops []jsonpatch.Operation) []byte {
	t.Helper()
	if len(ops) == 0 {
		return raw
	}
	patchJSON, err := json.Marshal(ops)
	require.NoError(t, err)
	patch, err := jsonpatchapply.DecodePatch(patchJSON)
	require.NoError(t, err)
	out, err := patch.Apply(raw)
	require.NoError(t, err)
	return out
}

// assertKept fails for every value of before that after lacks or changed.
func assertKept(t *testing.T, path string, before, after any) {
	t.Helper()
	bm, ok := before.(map[string]any)
	if !ok {
		assert.Truef(t, reflect.DeepEqual(before, after), "%s changed from %v to %v", path, before, after)
		return
	}
	am, ok := after.(map[string]any)
	if !assert.Truef(t, ok, "%s is no longer an object", path) {
		return
	}
	for k, v := range bm {
		if v == nil {
			continue // null may be defaulted
		}
		assertKept(t, path+"."+k, v, am[k])
	}
}

// Every sample of the Milvus Operator goes through the mutator with every
// field kept, only absent ones added, and the result passes validation
// ("default, then validate"), as a CREATE and as the UPDATE of a re-apply
// over the stored object: defaulting is idempotent and the update is legal.
func TestSamplesRoundTrip(t *testing.T) {
	docs, err := shared.Samples()
	require.NoError(t, err)
	p := policy.Default()
	seen := map[string]int{}
	for i, doc := range docs {
		if doc.Kind != "Milvus" && doc.Kind != "MilvusUpgrade" {
			continue
		}
		seen[doc.Kind]++
		t.Run(fmt.Sprintf("%s#%d", doc.File, i), func(t *testing.T) {
			defaulted := func(raw []byte) ([]jsonpatch.Operation, []byte) {
				var obj map[string]any
				require.NoError(t, json.Unmarshal(raw, &obj))
				var ops []jsonpatch.Operation
				var err error
				if doc.Kind == "Milvus" {
					ops, err = Milvus(obj)
				} else {
					ops, err = MilvusUpgrade(obj, "default", nil, nil, p)
				}
				require.NoError(t, err)
				return ops, apply(t, raw, ops)
			}
			ops, stored := defaulted(doc.JSON)
			for _, op := range ops {
				assert.Equal(t, "add", op.Operation, "defaults only add")
			}
			var before, after map[string]any
			require.NoError(t, json.Unmarshal(doc.JSON, &before))
			require.NoError(t, json.Unmarshal(stored, &after))
			assertKept(t, "", before, after)

			again, reapplied := defaulted(doc.JSON)
			assert.Equal(t, ops, again, "a re-apply is defaulted the same way")
			noop, _ := defaulted(stored)
			assert.Empty(t, noop, "the stored object needs no more defaults")

			if doc.Kind == "Milvus" {
				old, cur := &milvus.Milvus{}, &milvus.Milvus{}
				require.NoError(t, milvus.Decode(stored, milvus.MilvusKind, old))
				require.NoError(t, milvus.Decode(reapplied, milvus.MilvusKind, cur))
				assert.Equal(t, "rollingUpgrade", cur.Spec.Components.ImageUpdateMode)
				create := validate.Decide(validate.Milvus(validate.MilvusChange{New: old}, p), p)
				assert.True(t, create.Allowed(), "defaulted sample is denied on CREATE: %v", create.Errors)
				update := validate.Decide(validate.Milvus(validate.MilvusChange{Old: old, New: cur}, p), p)
				assert.True(t, update.Allowed(), "re-applied sample is denied on UPDATE: %v", update.Errors)
			} else {
				old, cur := &milvus.MilvusUpgrade{}, &milvus.MilvusUpgrade{}
				require.NoError(t, milvus.Decode(stored, milvus.MilvusUpgradeKind, old))
				require.NoError(t, milvus.Decode(reapplied, milvus.MilvusUpgradeKind, cur))
				old.Namespace, cur.Namespace = "default", "default"
				assert.Equal(t, "milvusdb/milvus:v2.2.0", cur.Spec.TargetImage)
				assert.Equal(t, "milvusdb/meta-migration:v2.2.0", cur.Spec.ToolImage)
				create := validate.Decide(validate.MilvusUpgrade(validate.UpgradeChange{New: old}, p), p)
				assert.True(t, create.Allowed(), "defaulted sample is denied on CREATE: %v", create.Errors)
				update := validate.Decide(validate.MilvusUpgrade(validate.UpgradeChange{Old: old, New: cur}, p), p)
				assert.True(t, update.Allowed(), "re-applied sample is denied on UPDATE: %v", update.Errors)
				old.Status.State = "BackupMeta" // the operator has started: still the same spec
				update = validate.Decide(validate.MilvusUpgrade(validate.UpgradeChange{Old: old, New: cur}, p), p)
				assert.True(t, update.Allowed(), "re-applied sample is denied once started: %v", update.Errors)
			}
		})
	}
	assert.Greater(t, seen["Milvus"], 10)
	assert.Equal(t, 1, seen["MilvusUpgrade"])
}

// The seed's MilvusUpgrade 2.1.4 → 2.2.x, defaulted then validated against
// the Milvus it names.
func TestSeedUpgradeDefaultedAndAllowed(t *testing.T) {
	p := policy.Default()
	raw := []byte(`{"apiVersion":"milvus.io/v1beta1","kind":"MilvusUpgrade","metadata":{"name":"my-release-upgrade","namespace":"default"},
		"spec":{"milvus":{"name":"my-release"},"sourceVersion":"v2.1.4","targetVersion":"v2.2.16"}}`)
	target := &milvus.Milvus{}
	target.Name, target.Namespace = "my-release", "default"
	target.Spec.Components.Image = "registry.internal:5000/milvusdb/milvus:v2.1.4"
	target.Status.CurrentVersion = "v2.1.4"

	var obj map[string]any
	require.NoError(t, json.Unmarshal(raw, &obj))
	ops, err := MilvusUpgrade(obj, "default", nil, target, p)
	require.NoError(t, err)
	u := &milvus.MilvusUpgrade{}
	require.NoError(t, milvus.Decode(apply(t, raw, ops), milvus.MilvusUpgradeKind, u))
	assert.Equal(t, milvus.MilvusUpgradeSpec{
		Milvus:        milvus.ObjectReference{Name: "my-release", Namespace: "default"},
		SourceVersion: "v2.1.4", TargetVersion: "v2.2.16",
		TargetImage: "registry.internal:5000/milvusdb/milvus:v2.2.16",
		ToolImage:   "milvusdb/meta-migration:v2.2.0", Operation: "upgrade",
		MaxRetry: ptr.To(int64(3)), RollbackIfFailed: ptr.To(true),
	}, u.Spec)
	d := validate.Decide(validate.MilvusUpgrade(validate.UpgradeChange{New: u, Target: target}, p), p)
	assert.True(t, d.Allowed(), "%v", d.Errors)
	assert.Empty(t, d.Warnings)
}

// A MilvusUpgrade retargeted before the operator starts: the targetImage we
// injected follows; one the user chose, or one of a started upgrade, stays.
func TestMilvusUpgradeRetarget(t *testing.T) {
	p := policy.Default()
	stored := func(targetVersion, targetImage, state string) *milvus.MilvusUpgrade {
		u := &milvus.MilvusUpgrade{}
		u.Spec.TargetVersion, u.Spec.TargetImage, u.Status.State = targetVersion, targetImage, state
		return u
	}
	// reapplied is the object a re-apply sends: the new targetVersion, the
	// stored targetImage carried over (client-side merge or SSA ownership).
	reapplied := `{"spec":{"milvus":{"name":"my-release","namespace":"default"},"sourceVersion":"v2.1.4","targetVersion":"v2.2.5",
		"targetImage":"%s","toolImage":"milvusdb/meta-migration:v2.2.0","maxRetry":3,"rollbackIfFailed":true,"operation":"upgrade"}}`
	tests := []struct {
		name string
		old  *milvus.MilvusUpgrade
		sent string
		want []jsonpatch.Operation
	}{
		{"injected, not started: follows", stored("v2.2.16", "milvusdb/milvus:v2.2.16", ""), "milvusdb/milvus:v2.2.16",
			[]jsonpatch.Operation{add("/spec/targetImage", "milvusdb/milvus:v2.2.5")}},
		{"chosen by the user: stays", stored("v2.2.16", "registry.internal/milvus:v2.2.16", ""), "registry.internal/milvus:v2.2.16", nil},
		{"started: stays (MU-UP-IMMUTABLE)", stored("v2.2.16", "milvusdb/milvus:v2.2.16", "BackupMeta"), "milvusdb/milvus:v2.2.16", nil},
		{"the request sets its own: stays", stored("v2.2.16", "milvusdb/milvus:v2.2.16", ""), "milvusdb/milvus:v2.2.5", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := MilvusUpgrade(object(t, fmt.Sprintf(reapplied, tc.sent)), "default", tc.old, nil, p)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ops)
		})
	}
}
