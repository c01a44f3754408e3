package webhook

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/milvus-admission/milvus-admission/internal/shared"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// sameAsEncodingJSON checks the property decodeMilvus promises: when it
// takes an input, encoding/json takes it too, into the same view. It reports
// whether decodeMilvus took it.
func sameAsEncodingJSON(t *testing.T, raw []byte) bool {
	t.Helper()
	var fast, slow milvus.Milvus
	if !decodeMilvus(raw, &fast, nil) {
		return false
	}
	if err := json.Unmarshal(raw, &slow); err != nil {
		t.Fatalf("decodeMilvus took what encoding/json rejects (%v): %s", err, raw)
	}
	if !assert.Equal(t, slow, fast) {
		t.Fatalf("views differ for %s", raw)
	}
	return true
}

func TestDecodeMilvusTakesWhatTheAPIServerSends(t *testing.T) {
	stored, err := json.Marshal(webhooktest.StoredMilvus("tenant-a", "search", "milvusdb/milvus:v2.4.22", 7))
	require.NoError(t, err)
	assert.True(t, sameAsEncodingJSON(t, stored), "a production Milvus")

	var m milvus.Milvus
	require.True(t, decodeMilvus(stored, &m, nil))
	assert.Equal(t, "milvusdb/milvus:v2.4.22", m.Spec.Components.Image)
	assert.Equal(t, "v2.4.22", m.Status.CurrentVersion)
	require.Len(t, m.ManagedFields, 3)
	assert.Equal(t, "kubectl-client-side-apply", m.ManagedFields[0].Manager)
	assert.Contains(t, string(m.ManagedFields[0].FieldsV1.Raw), `"f:image"`)
	assert.NotNil(t, m.Spec.Components.QueryNode)
	assert.Nil(t, m.Spec.Components.Standalone)

	docs, err := shared.Samples()
	require.NoError(t, err)
	for _, d := range docs {
		if d.Kind == milvus.MilvusKind.Kind {
			assert.True(t, sameAsEncodingJSON(t, d.JSON), "sample %s", d.File)
		}
	}
}

func TestDecodeMilvusAgreesWithEncodingJSON(t *testing.T) {
	const m = `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus",`
	took := func(doc string) bool { return sameAsEncodingJSON(t, []byte(doc)) }
	for _, doc := range []string{
		m + `"metadata":{"name":"a","annotations":{"k":null,"x":"1"},"labels":null},"spec":null,"status":null}`,
		m + `"spec":{"components":{"image":"a:v1","image":"b:v2","proxy":{"image":"p"},"proxy":null}}}`,
		m + `"spec":{"components":{"proxy":{"image":"p"},"proxy":{"version":"v2.4.1"}}}}`,
		m + `"spec":{"components":{"enableRollingUpdate":true,"enableRollingUpdate":null}}}`,
		m + "\n \"spec\" :\t{ \"mode\" : \"cluster\" , \"dependencies\":{\"msgStreamType\":\"kafka\",\"kafka\":{\"x\":[1,2.5e-3,-0,{}]}}}\r\n}",
		m + `"metadata":{"name":"\u00e9t\u00e9","annotations":{"caf\u00e9":"\ud83d\ude00","b":"\/"}}}`,
		m + `"metadata":{"name":"` + "\xff\xfe" + `"}}`,
		m + `"metadata":{"managedFields":[]},"spec":{}}`,
		m + `"metadata":{"managedFields":[null,{"manager":"m","fieldsV1":null},{"fieldsV1":{"f:spec":{}},"time":"2026-01-02T03:04:05Z"}]}}`,
		m + `"metadata":{"managedFields":[{"manager":"a"},{"manager":"b"}],"managedFields":[{"operation":"Apply"}]}}`,
		m + `"metadata":{"generation":-9223372036854775808,"deletionGracePeriodSeconds":null,"creationTimestamp":null}}`,
		m + `"metadata":{"generation":9223372036854775807,"deletionGracePeriodSeconds":30,"deletionTimestamp":"2026-01-02T03:04:05+02:00","uid":"u","selfLink":"/x"}}`,
		m + `"metadata":{"labels":{"a":"1","b":null},"labels":{"c":"2"},"finalizers":["f",null],"finalizers":["g"]}}`,
		m + `"metadata":{"creationTimestamp":"2026-01-02T03:04:05Z","creationTimestamp":null,"finalizers":[],"labels":null}}`,
		m + `"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"K","name":"n","uid":"u","controller":true}]}}`,
		m + `"unknown":{"Spec":1},"spec":{"config":{"Mode":[true,false,null]}}}`,
	} {
		assert.True(t, took(doc), "decodeMilvus should take %s", doc)
	}
	// Each of these decodeMilvus leaves to encoding/json: a key that matches
	// only case-insensitively, a type encoding/json rejects, invalid JSON,
	// a value encoding/json would check and reject.
	for _, doc := range []string{
		m + `"Spec":{"components":{"image":"x:v1"}}}`,
		m + `"spec":{"components":{"IMAGE":"x:v1"}}}`,
		m + `"spec":{"components":{"imag\u0065":"x:v1","Image":"y"}}}`,
		`{"apiVersion":"milvus.io/v1beta1","\u212aind":"Milvus"}`,
		"{\"apiVersion\":\"milvus.io/v1beta1\",\"\u212aind\":\"Milvus\"}", // the Kelvin sign folds to k
		m + `"metadata":{"Name":"x"}}`,
		m + `"spec":{"components":[]}}`,
		m + `"spec":{"components":{"image":5}}}`,
		m + `"spec":{"components":{"enableRollingUpdate":"yes"}}}`,
		m + `"metadata":{"generation":1.5}}`,
		m + `"metadata":{"generation":9223372036854775808}}`,
		m + `"metadata":{"creationTimestamp":"yesterday"}}`,
		m + `"metadata":{"labels":{"a":1}}}`,
		m + `"metadata":{"finalizers":[1]}}`,
		m + `"metadata":{"ownerReferences":[{"controller":"yes"}]}}`,
		m + `"spec":{"config":{"a":01}}}`,
		m + `"spec":{"config":{"a":tru}}}`,
		m + `"spec":{"config":{"a":"\x"}}}`,
		m + `"spec":{"config":{"a":"` + "\x01" + `"}}}`,
		m + `"spec":{}} x`,
		m + `"spec":{}`,
		`[]`, ``, `nul`,
		m + `"spec":{"config":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`,
	} {
		assert.False(t, took(doc), "decodeMilvus should leave %.80s to encoding/json", doc)
	}
}

func TestDecodeViewErrorsAreMilvusDecodes(t *testing.T) {
	for _, doc := range []string{
		`{"apiVersion":"v1","kind":"Pod"}`,
		`{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","spec":{"components":[]}}`,
		`{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","spec":`,
		`null`,
	} {
		var got, want milvus.Milvus
		err := decodeView([]byte(doc), milvus.MilvusKind, &got, nil)
		require.Error(t, err, doc)
		assert.Equal(t, milvus.Decode([]byte(doc), milvus.MilvusKind, &want).Error(), err.Error(), doc)

		var gotUp, wantUp milvus.MilvusUpgrade
		err = decodeView([]byte(doc), milvus.MilvusUpgradeKind, &gotUp, nil)
		require.Error(t, err, doc)
		assert.Equal(t, milvus.Decode([]byte(doc), milvus.MilvusUpgradeKind, &wantUp).Error(), err.Error(), doc)
	}
}

// TestDecodeMilvusKnowsEveryField fails when milvus.Milvus (or the
// metadata types) gain a field decode.go does not read: add it there.
func TestDecodeMilvusKnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		read []string
	}{
		{reflect.TypeFor[milvus.Milvus](), topFields},
		{reflect.TypeFor[metav1.ObjectMeta](), objectMetaFields},
		{reflect.TypeFor[metav1.ManagedFieldsEntry](), managedFieldsFields},
		{reflect.TypeFor[milvus.MilvusSpec](), specFields},
		{reflect.TypeFor[milvus.Components](), componentsFields},
		{reflect.TypeFor[milvus.Component](), componentFields},
		{reflect.TypeFor[milvus.Dependencies](), dependencyFields},
		{reflect.TypeFor[milvus.MilvusStatus](), statusFields},
	} {
		assert.ElementsMatch(t, jsonNames(tc.typ), tc.read, "%s", tc.typ)
	}
}

// jsonNames are the JSON names encoding/json decodes into a struct type,
// those of embedded structs without a name included.
func jsonNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case name == "" && f.Anonymous:
			names = append(names, jsonNames(f.Type)...)
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}

func TestDecodeMilvusCarriesLongStrings(t *testing.T) {
	stored := webhooktest.StoredMilvus("tenant-a", "search", "milvusdb/milvus:v2.4.22", 7)
	cur, err := json.Marshal(stored)
	require.NoError(t, err)
	annotations := stored["metadata"].(map[string]any)["annotations"].(map[string]any)
	last := annotations["kubectl.kubernetes.io/last-applied-configuration"].(string)
	for name, old := range map[string]string{
		"the same":          last,
		"another":           strings.Replace(last, "v2.4.22", "v2.4.21", 1),
		"longer":            last + "x",
		"shorter":           last[:len(last)-1],
		"escaped otherwise": strings.Replace(last, `"`, `\u0022`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			annotations["kubectl.kubernetes.io/last-applied-configuration"] = old
			data, err := json.Marshal(stored)
			require.NoError(t, err)
			var long longStrings
			var first, second, want milvus.Milvus
			require.True(t, decodeMilvus(cur, &first, &long))
			require.Len(t, long, 1, "the last-applied annotation is carried")
			require.True(t, decodeMilvus(data, &second, &long))
			require.NoError(t, json.Unmarshal(data, &want))
			assert.Equal(t, want, second)
		})
	}
}

// FuzzDecodeMilvus holds decodeMilvus to encoding/json, for whatever it
// takes, prev's long strings carried over as for an UPDATE's two objects.
func FuzzDecodeMilvus(f *testing.F) {
	// Small seeds keep the fuzzer fast; the production object is in the
	// tests above. This one has a long escaped annotation to carry over.
	small := map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus",
		"metadata": map[string]any{"name": "a", "namespace": "n", "annotations": map[string]any{
			"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"a"},` +
				strings.Repeat(`"spec":{"components":{"image":"milvusdb/milvus:v2.4.22"}},`, 5) + `"x":"\u00e9"}`,
		}, "managedFields": []any{map[string]any{"manager": "m", "operation": "Apply", "fieldsV1": map[string]any{"f:spec": map[string]any{}}, "time": "2026-01-02T03:04:05Z"}}},
		"spec":   map[string]any{"mode": "cluster", "components": map[string]any{"image": "milvusdb/milvus:v2.4.22", "proxy": map[string]any{"version": "v2"}}},
		"status": map[string]any{"currentVersion": "v2.4.22"},
	}
	seed, err := json.Marshal(small)
	require.NoError(f, err)
	f.Add(string(seed), string(seed))
	f.Add(strings.Replace(string(seed), "v2.4.22", "v2.4.23", 1), string(seed))
	f.Add(`{"metadata":{"managedFields":[{"manager":"m","fieldsV1":{"f:spec":{}},"time":"2026-01-02T03:04:05Z"}],"generation":3}}`, "")
	f.Fuzz(func(t *testing.T, doc, prev string) {
		var long longStrings
		var m milvus.Milvus
		decodeMilvus([]byte(prev), &m, &long)
		var fast, slow milvus.Milvus
		if !decodeMilvus([]byte(doc), &fast, &long) {
			return
		}
		if err := json.Unmarshal([]byte(doc), &slow); err != nil {
			t.Fatalf("decodeMilvus took what encoding/json rejects (%v): %s", err, doc)
		}
		if !assert.Equal(t, slow, fast) {
			t.Fatalf("views differ for %s", doc)
		}
	})
}
