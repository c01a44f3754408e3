package milvus

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/randfill"
)

// TestDeepCopy: a copy equals its original and shares no pointer, map or
// slice with it (the informer cache hands out copies and keeps its own).
func TestDeepCopy(t *testing.T) {
	start := time.Now().UnixNano()
	for i := range int64(200) {
		f := randfill.NewWithSeed(start+i).NilChance(0.2).NumElements(1, 3)
		for _, obj := range []runtime.Object{&Milvus{}, &MilvusUpgrade{}, &MilvusList{}, &MilvusUpgradeList{}} {
			f.Fill(obj)
			cp := obj.DeepCopyObject()
			require.Equal(t, obj, cp, "seed %d", start+i)
			assert.Empty(t, sharedRefs(reflect.ValueOf(obj), reflect.ValueOf(cp), fmt.Sprintf("%T", obj)), "seed %d", start+i)
		}
	}
	var nilMilvus *Milvus
	assert.Nil(t, nilMilvus.DeepCopy())
	var nilUpgrade *MilvusUpgrade
	assert.Nil(t, nilUpgrade.DeepCopy())
}

// sharedRefs lists the paths at which a and b, equal values, hold the same
// pointer, map or slice.
func sharedRefs(a, b reflect.Value, path string) []string {
	var out []string
	switch a.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if a.IsNil() || b.IsNil() {
			return nil
		}
		if a.Pointer() == b.Pointer() && (a.Kind() != reflect.Slice || a.Len() > 0) {
			out = append(out, path)
		}
	}
	switch a.Kind() {
	case reflect.Pointer:
		out = append(out, sharedRefs(a.Elem(), b.Elem(), path)...)
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue // time.Time's location: copies share it by design
			}
			out = append(out, sharedRefs(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)...)
		}
	case reflect.Slice:
		for i := range a.Len() {
			out = append(out, sharedRefs(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Map:
		for _, k := range a.MapKeys() {
			out = append(out, sharedRefs(a.MapIndex(k), b.MapIndex(k), fmt.Sprintf("%s[%v]", path, k))...)
		}
	}
	return out
}

// TestAddToScheme: the views are milvus.io/v1beta1 objects of their kinds.
func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, AddToScheme(s))
	for gvk, obj := range map[any]runtime.Object{
		MilvusKind: &Milvus{}, MilvusUpgradeKind: &MilvusUpgrade{},
		MilvusUpgradeListKind: &MilvusUpgradeList{}, MilvusKind.GroupVersion().WithKind("MilvusList"): &MilvusList{},
	} {
		kinds, _, err := s.ObjectKinds(obj)
		require.NoError(t, err)
		assert.Equal(t, gvk, kinds[0])
	}
}
