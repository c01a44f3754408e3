// Package shared finds the reference data that lives beside the repository
// in ../shared (the Milvus Operator's real CRDs and samples). Tests read it
// from there and never copy it in. It also splits multi-document YAML for
// the tests and the harness.
package shared

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Dir is the absolute path of ../shared, or an error that says how to get it.
// $MILVUS_ADMISSION_SHARED overrides the location.
func Dir() (string, error) {
	if d := os.Getenv("MILVUS_ADMISSION_SHARED"); d != "" {
		return check(d)
	}
	_, file, _, _ := runtime.Caller(0)
	// internal/shared/shared.go → repository root → ../shared
	return check(filepath.Join(filepath.Dir(file), "..", "..", "..", "shared"))
}

func check(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(abs, "milvus-operator", "crds")); err != nil {
		return "", fmt.Errorf("the Milvus Operator reference data is missing at %s (%v): check out the shared/ folder beside this repository, or point MILVUS_ADMISSION_SHARED at it", abs, err)
	}
	return abs, nil
}

// CRDDir is the folder of the Milvus Operator CRDs.
func CRDDir() (string, error) {
	d, err := Dir()
	return filepath.Join(d, "milvus-operator", "crds"), err
}

// CRDSchema is the OpenAPI schema of version (v1beta1) in the CRD file of
// CRDDir (say, milvus.io_milvuses.yaml).
func CRDSchema(file, version string) (*apiextensionsv1.JSONSchemaProps, error) {
	dir, err := CRDDir()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == version && v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			return v.Schema.OpenAPIV3Schema, nil
		}
	}
	return nil, fmt.Errorf("%s has no schema of version %s", file, version)
}

// Doc is one YAML document of a sample file, as JSON.
type Doc struct {
	File string // base name of the file
	Kind string
	JSON []byte
}

// Samples reads every document of every file in milvus-operator/samples.
func Samples() ([]Doc, error) {
	d, err := Dir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(d, "milvus-operator", "samples", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var docs []Doc
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		parts, err := YAMLDocuments(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i, part := range parts {
			js, err := yaml.YAMLToJSON(part)
			if err != nil {
				return nil, fmt.Errorf("%s document %d: %w", f, i, err)
			}
			var meta struct{ Kind string }
			if err := yaml.Unmarshal(js, &meta); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", f, i, err)
			}
			docs = append(docs, Doc{File: filepath.Base(f), Kind: meta.Kind, JSON: js})
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no sample manifests found under %s/milvus-operator/samples", d)
	}
	return docs, nil
}

// YAMLDocuments reads a multi-document YAML stream with apimachinery's YAML
// reader and returns its documents, leaving out empty ones.
func YAMLDocuments(r io.Reader) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) != 0 {
			docs = append(docs, doc)
		}
	}
}
