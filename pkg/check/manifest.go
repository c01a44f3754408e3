package check

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// Stdin is the path that stands for standard input, and the name its
// manifests are reported under.
const (
	Stdin     = "-"
	StdinName = "<stdin>"
)

// Source is one stream of manifests and the name errors and results give it.
type Source struct {
	Name string
	Data []byte
}

// Object is one Milvus or MilvusUpgrade read from a Source.
type Object struct {
	// File and Line say where the object starts (Line is 1-based; 0 for an
	// object read from the cluster).
	File string
	Line int
	GVK  schema.GroupVersionKind
	// Namespace is metadata.namespace, or the default namespace when the
	// manifest sets none (as kubectl fills it in).
	Namespace, Name string
	// JSON is the object as kubectl reads it (YAML 1.1 via sigs.k8s.io/yaml),
	// with Namespace set.
	JSON []byte
	// node is the object's YAML node, for the line of a field; nil for an
	// object read from the cluster.
	node *yaml.Node
}

// key identifies an object in a cluster.
type key struct{ kind, namespace, name string }

func (o *Object) key() key { return key{o.GVK.Kind, o.Namespace, o.Name} }

// guarded are the kinds the webhook judges, by kind name.
var guarded = map[string]schema.GroupVersionKind{
	milvus.MilvusKind.Kind:        milvus.MilvusKind,
	milvus.MilvusUpgradeKind.Kind: milvus.MilvusUpgradeKind,
}

// manifestExt are the file extensions read from a directory.
var manifestExt = []string{".yaml", ".yml", ".json"}

// IsManifest reports whether a file name has a manifest extension.
func IsManifest(name string) bool {
	return slices.Contains(manifestExt, strings.ToLower(filepath.Ext(name)))
}

// ReadSources reads files, directories (every *.yaml, *.yml and *.json below
// them, hidden directories such as .git left out) and "-" (stdin, once), in
// the order given, each file once.
func ReadSources(paths []string, stdin io.Reader) ([]Source, error) {
	var out []Source
	seen := map[string]bool{}
	add := func(name string) error {
		abs, err := filepath.Abs(name)
		if err != nil {
			return err
		}
		if seen[abs] {
			return nil
		}
		seen[abs] = true
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		out = append(out, Source{Name: name, Data: data})
		return nil
	}
	for _, p := range paths {
		if p == Stdin {
			if seen[Stdin] {
				continue
			}
			seen[Stdin] = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %w", err)
			}
			out = append(out, Source{Name: StdinName, Data: data})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			if err := add(p); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != p && strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			case d.IsDir() || !IsManifest(path):
				return nil
			}
			return add(path)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Parse reads the Milvus and MilvusUpgrade objects of a source; every other
// object is left out. namespace is the namespace of an object that names
// none. A document that cannot be read, or a milvus.io Milvus or
// MilvusUpgrade of another apiVersion, is an error naming the file and line.
func Parse(src Source, namespace string) ([]Object, error) {
	docs, err := documents(src.Data)
	if err != nil {
		// A LineError reads "LINE: message": file:line: message.
		return nil, fmt.Errorf("%s:%w", src.Name, err)
	}
	var out []Object
	for _, d := range docs {
		objs, err := d.objects(src.Name, namespace)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// ParseAll parses every source.
func ParseAll(srcs []Source, namespace string) ([]Object, error) {
	var out []Object
	for _, s := range srcs {
		objs, err := Parse(s, namespace)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// document is one YAML document of a stream: where it starts, its JSON and,
// when yaml.v3 reads it, its node.
type document struct {
	line int
	json []byte
	node *yaml.Node
}

// documents splits a stream with apimachinery's YAML reader, as kubectl
// does, and finds the line each document starts on. A JSON stream (one or
// more objects, not YAML) is read with encoding/json.
func documents(data []byte) ([]document, error) {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if trimmed := bytes.TrimLeft(data, " \t\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		return jsonDocuments(data)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n') // the reader ends every line with one
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []document
	offset := 0
	for {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &LineError{Line: badSeparator(data, offset), Err: err}
		}
		// A document is consecutive lines of the stream.
		at := offset + max(bytes.Index(data[offset:], raw), 0)
		offset = at + len(raw)
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		first := lineAt(data, at)
		js, err := sigsyaml.YAMLToJSON(raw)
		if err != nil {
			return nil, lineError(err, first)
		}
		d := document{line: first, json: js}
		var node yaml.Node
		if yaml.Unmarshal(raw, &node) == nil {
			shiftNode(&node, first-1)
			d.node = &node
			if n := content(&node); n != nil {
				d.line = n.Line
			}
		}
		out = append(out, d)
	}
}

// jsonDocuments reads a stream of JSON values.
func jsonDocuments(data []byte) ([]document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []document
	for {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			at := int(dec.InputOffset())
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				at = int(syntax.Offset)
			}
			return nil, &LineError{Line: lineAt(data, at), Err: err}
		}
		end := int(dec.InputOffset())
		begin := int(start) + len(data[start:end]) - len(bytes.TrimLeft(data[start:end], " \t\n"))
		d := document{line: lineAt(data, begin), json: raw}
		var node yaml.Node
		if yaml.Unmarshal(data[begin:end], &node) == nil {
			shiftNode(&node, d.line-1)
			d.node = &node
		}
		out = append(out, d)
	}
}

// badSeparator is the line of the first "---" after offset that the YAML
// reader refuses (text other than a comment after it), else offset's line.
func badSeparator(data []byte, offset int) int {
	line := lineAt(data, offset)
	for l := range bytes.SplitSeq(data[offset:], []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte("---")); ok {
			if rest = bytes.TrimSpace(rest); len(rest) > 0 && rest[0] != '#' {
				return line
			}
		}
		line++
	}
	return lineAt(data, offset)
}

// lineAt is the 1-based line of byte offset.
func lineAt(data []byte, offset int) int {
	return bytes.Count(data[:min(offset, len(data))], []byte("\n")) + 1
}

// LineError is a manifest that cannot be read, at a line of its stream.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): `)

// lineError places a YAML error of a document starting at line first: at
// the line it names (counted from the document's start), else at first.
func lineError(err error, first int) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &LineError{Line: first + n - 1, Err: errors.New("yaml: " + msg[len(m[0]):])}
	}
	return &LineError{Line: first, Err: err}
}

func shiftNode(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftNode(c, by)
	}
}

// content is the value of a document node.
func content(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// typeMeta is what identifies a document.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
		Namespace    string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// objects are the guarded objects of a document: itself, or the items of a
// List (as kubectl get -o yaml writes them).
func (d document) objects(file, namespace string) ([]Object, error) {
	if t := bytes.TrimSpace(d.json); len(t) == 0 || t[0] != '{' {
		return nil, nil // a scalar or a sequence: not an object
	}
	var tm typeMeta
	if err := json.Unmarshal(d.json, &tm); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, d.line, err)
	}
	if strings.HasSuffix(tm.Kind, "List") && tm.Items != nil {
		var out []Object
		items := d.itemNodes()
		for i, raw := range tm.Items {
			item := document{line: d.line, json: raw}
			if i < len(items) {
				item.node, item.line = items[i], items[i].Line
			}
			objs, err := item.objects(file, namespace)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	gvk, judged, err := kindOf(tm)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, d.line, err)
	}
	if !judged {
		return nil, nil
	}
	if tm.Metadata.Name == "" {
		return nil, fmt.Errorf("%s:%d: %s has no metadata.name (kubectl apply needs one)", file, d.line, gvk.Kind)
	}
	ns := tm.Metadata.Namespace
	if ns == "" {
		ns = namespace
	}
	obj := Object{File: file, Line: d.line, GVK: gvk, Namespace: ns, Name: tm.Metadata.Name, node: d.node}
	if obj.JSON, err = withNamespace(d.json, ns); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, d.line, err)
	}
	if err := decodeView(obj.JSON, gvk); err != nil {
		return nil, fmt.Errorf("%s:%d: %s %s/%s: %w", file, d.line, gvk.Kind, ns, obj.Name, err)
	}
	return []Object{obj}, nil
}

// itemNodes are the nodes of a List's items.
func (d document) itemNodes() []*yaml.Node {
	if d.node == nil {
		return nil
	}
	if items := lookup(content(d.node), "items"); items != nil && items.Kind == yaml.SequenceNode {
		return items.Content
	}
	return nil
}

// kindOf says whether a document is judged: a milvus.io/v1beta1 Milvus or
// MilvusUpgrade. Another version of those kinds is an error, as is a
// milvus.io object without a kind: the webhook is registered for v1beta1
// only, and a typo must not pass unchecked.
func kindOf(tm typeMeta) (schema.GroupVersionKind, bool, error) {
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		gv = schema.GroupVersion{}
	}
	inGroup := gv.Group == milvus.Group || tm.APIVersion == milvus.Group
	want, isGuarded := guarded[tm.Kind]
	switch {
	case isGuarded && inGroup && gv.Version == milvus.APIVersion:
		return want, true, nil
	case isGuarded && (inGroup || tm.APIVersion == ""):
		return schema.GroupVersionKind{}, false, fmt.Errorf("apiVersion %q of a %s: check judges %s, the version the webhook is registered for",
			tm.APIVersion, tm.Kind, want.GroupVersion())
	case inGroup && tm.Kind == "":
		return schema.GroupVersionKind{}, false, fmt.Errorf("apiVersion %s without a kind", tm.APIVersion)
	}
	return schema.GroupVersionKind{}, false, nil
}

// decodeView checks that an object reads into its pkg/milvus view, as the
// webhook decodes it: a field of the wrong type is bad input, not a decision.
func decodeView(data []byte, gvk schema.GroupVersionKind) error {
	var out any = &milvus.Milvus{}
	if gvk == milvus.MilvusUpgradeKind {
		out = &milvus.MilvusUpgrade{}
	}
	return milvus.Decode(data, gvk, out)
}

// withNamespace sets metadata.namespace.
func withNamespace(data []byte, namespace string) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	meta, ok := obj["metadata"].(map[string]any)
	if !ok {
		return nil, errors.New("metadata is not an object")
	}
	meta["namespace"] = namespace
	return json.Marshal(obj)
}
