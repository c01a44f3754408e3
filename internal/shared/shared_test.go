package shared

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestYAMLDocuments(t *testing.T) {
	in := "---\n# leading comment only\n---\nkind: A\nvalue: |\n  text with --- inside\n--- # a comment after the separator\n\n---\nkind: B\n---\n"
	docs, err := YAMLDocuments(strings.NewReader(in))
	require.NoError(t, err)
	var got []string
	for _, d := range docs {
		got = append(got, string(d))
	}
	// A leading separator stays with the first document, as YAML allows.
	assert.Equal(t, []string{
		"---\n# leading comment only\n",
		"kind: A\nvalue: |\n  text with --- inside\n",
		"kind: B\n",
	}, got)
}

func TestYAMLDocumentsEmpty(t *testing.T) {
	docs, err := YAMLDocuments(strings.NewReader(""))
	require.NoError(t, err)
	assert.Empty(t, docs)
}

func TestSamplesAreReadWhole(t *testing.T) {
	docs, err := Samples()
	require.NoError(t, err)
	for _, d := range docs {
		assert.NotEmpty(t, d.Kind, "%s: a document without a kind", d.File)
		assert.NotContains(t, string(d.JSON), "---", "%s: a document separator inside a document", d.File)
	}
}
