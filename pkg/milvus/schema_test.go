package milvus

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/milvus-admission/milvus-admission/internal/shared"
)

// TestViewsMatchTheCRDSchema: every field a view decodes has, in the
// operator's CRD, the JSON type of the view's Go type. The informer cache
// decodes each stored object into its view, and one object the view could
// not decode would keep the whole cache from syncing; the API server only
// stores objects that fit the schema, so a view that fits it decodes them
// all.
func TestViewsMatchTheCRDSchema(t *testing.T) {
	for file, view := range map[string]any{"milvus.io_milvuses.yaml": Milvus{}, "milvus.io_milvusupgrades.yaml": MilvusUpgrade{}} {
		t.Run(file, func(t *testing.T) {
			schema, err := shared.CRDSchema(file, APIVersion)
			require.NoError(t, err, "the operator's CRDs are read from ../shared")
			fields := checkAgainstSchema(t, reflect.TypeOf(view), schema, "")
			assert.Greater(t, fields, 8, "fields checked")
		})
	}
}

// checkAgainstSchema checks the fields of struct type typ against schema,
// an object schema, and returns how many it checked. The object metadata is
// the API server's, not the CRD's.
func checkAgainstSchema(t *testing.T, typ reflect.Type, schema *apiextensionsv1.JSONSchemaProps, path string) int {
	checked := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft == reflect.TypeFor[metav1.TypeMeta]() || ft == reflect.TypeFor[metav1.ObjectMeta]() {
			continue
		}
		if name == "" { // inline
			checked += checkAgainstSchema(t, ft, schema, path)
			continue
		}
		prop, ok := schema.Properties[name]
		if !assert.True(t, ok, "%s.%s is not in the CRD's schema", path, name) {
			continue
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "boolean", reflect.Int64: "integer", reflect.Struct: "object"}[ft.Kind()]
		require.NotEmpty(t, want, "%s.%s: a view field of kind %s; teach this test its JSON type", path, name, ft.Kind())
		assert.Equal(t, want, prop.Type, "%s.%s", path, name)
		assert.False(t, prop.XIntOrString || prop.XPreserveUnknownFields != nil && *prop.XPreserveUnknownFields && prop.Type == "", "%s.%s may hold any type", path, name)
		checked++
		if ft.Kind() == reflect.Struct {
			checked += checkAgainstSchema(t, ft, &prop, path+"."+name)
		}
	}
	return checked
}
