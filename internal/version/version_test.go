package version

import (
	"regexp"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// An unstamped build (as this test's) says "dev"; hack/image's test checks a
// stamped one.
func TestStringNamesReleaseAndPlatform(t *testing.T) {
	assert.Regexp(t, `^milvus-admission dev \(commit \S+, go\S+ `+regexp.QuoteMeta(runtime.GOOS+"/"+runtime.GOARCH)+`\)$`, String())
}
