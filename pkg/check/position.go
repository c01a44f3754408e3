package check

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldLine is the line of the field at path (a field.Path string such as
// spec.components.image or metadata.annotations[milvus-admission.io/x]) in
// the object's manifest. A field the manifest does not set (a rule may
// report one that is missing, such as spec.components.mixCoord) is placed
// at its nearest ancestor that is set, else at the object's first line.
func (o *Object) FieldLine(path string) int {
	if o.node == nil || path == "" {
		return o.Line
	}
	line := o.Line
	n := content(o.node)
	for _, seg := range splitPath(path) {
		l, v := child(n, seg)
		if v == nil {
			break
		}
		line, n = l, v
	}
	return line
}

// splitPath splits a field path into keys and indexes: "a.b[k.x][0]" is
// a, b, k.x, 0.
func splitPath(path string) []string {
	var out []string
	for path != "" {
		switch {
		case path[0] == '.':
			path = path[1:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(out, path[1:])
			}
			out = append(out, path[1:end])
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			out = append(out, path[:end])
			path = path[end:]
		}
	}
	return out
}

// child finds seg in a mapping (by key) or a sequence (by index): the line
// of the key or element, and the value; nil when absent.
func child(n *yaml.Node, seg string) (int, *yaml.Node) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				return n.Content[i].Line, resolve(n.Content[i+1])
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i].Line, resolve(n.Content[i])
		}
	}
	return 0, nil
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// lookup is the value of key in a mapping node, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	_, v := child(n, key)
	return v
}
