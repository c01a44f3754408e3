package check

import (
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	kubectlutil "k8s.io/kubectl/pkg/util"
)

// What kubectl apply (client-side, the default, and Argo CD's) sends, and
// what the API server makes of it before admission. The webhook judges
// that object, not the manifest: fields git does not set stay as they are
// stored, kubectl's last-applied annotation is rewritten, and the status
// (a subresource of both kinds) cannot be changed by a manifest.

// fieldManager is the field manager of kubectl's client-side apply.
const fieldManager = "kubectl-client-side-apply"

// applyCreate is the object kubectl creates from a manifest: the manifest
// with its last-applied annotation. The API server drops a status.
func applyCreate(manifest []byte) ([]byte, error) {
	modified, err := lastApplied(manifest)
	if err != nil {
		return nil, err
	}
	return setStatus(modified, nil)
}

// applyUpdate is the object the API server admits when kubectl applies
// manifest over live: live patched with kubectl's three-way JSON merge patch
// (custom resources get no strategic merge), the status kept. changed is
// false when the patch is empty: kubectl then sends nothing and prints
// "unchanged".
func applyUpdate(manifest, live []byte) (object []byte, changed bool, err error) {
	modified, err := lastApplied(manifest)
	if err != nil {
		return nil, false, err
	}
	current := &unstructured.Unstructured{}
	if err := current.UnmarshalJSON(live); err != nil {
		return nil, false, err
	}
	original, err := kubectlutil.GetOriginalConfiguration(current)
	if err != nil {
		return nil, false, err
	}
	patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(original, modified, live,
		mergepatch.RequireKeyUnchanged("apiVersion"), mergepatch.RequireKeyUnchanged("kind"), mergepatch.RequireMetadataKeyUnchanged("name"))
	if err != nil {
		return nil, false, fmt.Errorf("computing kubectl's patch: %w", err)
	}
	if string(patch) == "{}" {
		return live, false, nil
	}
	patched, err := jsonpatch.MergePatch(live, patch)
	if err != nil {
		return nil, false, fmt.Errorf("applying kubectl's patch: %w", err)
	}
	object, err = setStatus(patched, current.Object["status"])
	return object, true, err
}

// lastApplied is kubectl's modified configuration: the manifest with the
// last-applied-configuration annotation set to itself.
func lastApplied(manifest []byte) ([]byte, error) {
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(manifest); err != nil {
		return nil, err
	}
	return kubectlutil.GetModifiedConfiguration(obj, true, unstructured.UnstructuredJSONScheme)
}

// setStatus replaces an object's status (nil: none), as the API server does
// for a kind with a status subresource.
func setStatus(data []byte, status any) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	if status == nil {
		delete(obj, "status")
	} else {
		obj["status"] = runtime.DeepCopyJSONValue(status)
	}
	return json.Marshal(obj)
}
